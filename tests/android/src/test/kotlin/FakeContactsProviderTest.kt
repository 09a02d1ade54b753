// The ContactsProvider stand-in obeys the rules it claims (docs/contacts-provider-model.md),
// driven through Robolectric's real ContentResolver and ContentProviderOperation: a rule the
// stand-in got wrong would let the shell's scenarios pass for the wrong reason.
package app.contactsagent.android

import android.content.ContentProviderOperation
import android.content.ContentUris
import android.content.ContentValues
import android.content.OperationApplicationException
import android.net.Uri
import android.os.TransactionTooLargeException
import android.provider.ContactsContract
import android.provider.ContactsContract.CommonDataKinds.Photo
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.RawContacts
import app.contactsagent.testing.FakeContactsProvider
import app.contactsagent.testing.Images
import app.contactsagent.testing.OtherApp
import app.contactsagent.testing.PhoneUser
import app.contactsagent.testing.PhotoFailure
import app.contactsagent.testing.ShellTestRunner
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RuntimeEnvironment
import org.robolectric.annotation.Config
import java.io.FileNotFoundException
import java.util.concurrent.CountDownLatch

@RunWith(ShellTestRunner::class)
@Config(sdk = [34])
class FakeContactsProviderTest {
    private lateinit var provider: FakeContactsProvider
    private val resolver get() = RuntimeEnvironment.getApplication().contentResolver
    private val type = "app.contactsagent.business"
    private val name = "Company"

    private fun sa(uri: Uri): Uri = uri.buildUpon().appendQueryParameter(ContactsContract.CALLER_IS_SYNCADAPTER, "true")
        .appendQueryParameter(RawContacts.ACCOUNT_NAME, name).appendQueryParameter(RawContacts.ACCOUNT_TYPE, type).build()

    private fun insertRaw(uri: Uri = sa(RawContacts.CONTENT_URI), source: String = "u-1", readOnly: Int = 1): Long =
        ContentUris.parseId(resolver.insert(uri, ContentValues().apply {
            put(RawContacts.ACCOUNT_TYPE, type)
            put(RawContacts.ACCOUNT_NAME, name)
            put(RawContacts.SOURCE_ID, source)
            put(RawContacts.RAW_CONTACT_IS_READ_ONLY, readOnly)
        })!!)

    private fun insertName(rawId: Long, uri: Uri = sa(Data.CONTENT_URI), readOnly: Int = 1): Long =
        ContentUris.parseId(resolver.insert(uri, ContentValues().apply {
            put(Data.RAW_CONTACT_ID, rawId)
            put(Data.MIMETYPE, "vnd.android.cursor.item/name")
            put(Data.DATA1, "Anna Nowak")
            put(Data.IS_READ_ONLY, readOnly)
        })!!)

    private fun displayPhoto(rawId: Long) =
        Uri.withAppendedPath(ContentUris.withAppendedId(RawContacts.CONTENT_URI, rawId), RawContacts.DisplayPhoto.CONTENT_DIRECTORY)

    private fun writePhoto(uri: Uri, bytes: ByteArray) =
        resolver.openAssetFileDescriptor(uri, "w")!!.use { fd -> fd.createOutputStream().use { it.write(bytes) } }

    @Before
    fun setUp() {
        provider = FakeContactsProvider.install()
    }

    @After
    fun tearDown() = provider.close()

    @Test
    fun `plain data writes mark the raw contact dirty, sync adapter writes and bare inserts do not`() {
        val raw = insertRaw(RawContacts.CONTENT_URI) // plain, bare
        assertEquals(0, provider.rawContact(raw)!!.dirty)
        insertName(raw) // sync adapter
        assertEquals(0, provider.rawContact(raw)!!.dirty)
        val v1 = provider.rawContact(raw)!!.version
        OtherApp(resolver).addRow(raw)
        assertEquals(1, provider.rawContact(raw)!!.dirty)
        assertTrue(provider.rawContact(raw)!!.version > v1)
        // A sync adapter changes DIRTY only when its values say so; sync columns leave VERSION alone.
        val v2 = provider.rawContact(raw)!!.version
        resolver.update(sa(ContentUris.withAppendedId(RawContacts.CONTENT_URI, raw)), ContentValues().apply { put(RawContacts.SYNC1, "h") }, null, null)
        assertEquals(1, provider.rawContact(raw)!!.dirty)
        resolver.update(sa(ContentUris.withAppendedId(RawContacts.CONTENT_URI, raw)), ContentValues().apply { put(RawContacts.DIRTY, 0) }, null, null)
        assertEquals(0, provider.rawContact(raw)!!.dirty)
        assertEquals(v2, provider.rawContact(raw)!!.version)
    }

    @Test
    fun `read-only rows ignore plain updates but not plain deletes and inserts`() {
        val raw = insertRaw()
        insertName(raw)
        val user = PhoneUser(resolver)
        assertEquals(0, user.updateNameInPlace(raw, "Someone Else"))
        assertEquals("Anna Nowak", provider.dataRows(raw).single().data[0])
        assertEquals(0, provider.rawContact(raw)!!.dirty)
        user.editName(raw, "Someone Else")
        assertEquals(listOf("Someone Else"), provider.dataRows(raw).map { it.data[0] })
        assertEquals(1, provider.rawContact(raw)!!.dirty)
    }

    @Test
    fun `a plain delete leaves a tombstone, a sync adapter delete removes the rows`() {
        val raw = insertRaw()
        insertName(raw)
        assertEquals(1, PhoneUser(resolver).deleteContact(raw))
        val tomb = provider.rawContact(raw)!!
        assertEquals(1 to 1, tomb.deleted to tomb.dirty)
        assertEquals(1, provider.dataRows(raw).size)
        resolver.delete(sa(RawContacts.CONTENT_URI), "${RawContacts._ID} = ?", arrayOf(raw.toString()))
        assertNull(provider.rawContact(raw))
        assertTrue(provider.dataRows(raw).isEmpty())
        // A device-local contact has no sync adapter to purge it: deleted at once.
        val local = PhoneUser(resolver).addContact("Mum", "+48 1")
        PhoneUser(resolver).deleteContact(local)
        assertNull(provider.rawContact(local))
    }

    @Test
    fun `account parameters on a sync adapter URI restrict what it reaches`() {
        val ours = insertRaw()
        val theirs = PhoneUser(resolver).addContact("Mum", "+48 1", "com.google", "me@example.com")
        assertEquals(1, resolver.delete(sa(RawContacts.CONTENT_URI), null, null))
        assertNull(provider.rawContact(ours))
        assertNotNull(provider.rawContact(theirs))
        assertEquals(2, provider.dataRows(theirs).size)
    }

    @Test
    fun `SOURCE_ID is not unique and queries page with LIMIT and OFFSET in the sort order`() {
        val ids = listOf(insertRaw(source = "u-1"), insertRaw(source = "u-1"), insertRaw(source = "u-2"))
        assertEquals(2, provider.rawContacts("sourceid = ?", "u-1").size)
        val page = resolver.query(RawContacts.CONTENT_URI, arrayOf(RawContacts._ID), null, null, "${RawContacts._ID} LIMIT 2 OFFSET 1")!!
            .use { c -> generateSequence { if (c.moveToNext()) c.getLong(0) else null }.toList() }
        assertEquals(ids.drop(1), page)
    }

    @Test
    fun `applyBatch is all or nothing and refuses the 500th operation between yield points`() {
        fun ops(n: Int) = ArrayList((0 until n).map {
            ContentProviderOperation.newInsert(sa(RawContacts.CONTENT_URI))
                .withValue(RawContacts.ACCOUNT_TYPE, type).withValue(RawContacts.ACCOUNT_NAME, name)
                .withValue(RawContacts.SOURCE_ID, "u-$it").build()
        })
        val e = assertThrows(OperationApplicationException::class.java) { resolver.applyBatch(ContactsContract.AUTHORITY, ops(500)) }
        assertTrue(e.message!!.startsWith("Too many content provider operations between yield points"))
        assertTrue(provider.rawContacts().isEmpty())
        assertEquals(499, resolver.applyBatch(ContactsContract.AUTHORITY, ops(499)).size)
        assertEquals(499, provider.rawContacts().size)
        // A yield point resets the count (and may commit what came before it).
        val yielding = ops(600).also { it[300] = ContentProviderOperation.newInsert(sa(RawContacts.CONTENT_URI)).withYieldAllowed(true)
            .withValue(RawContacts.ACCOUNT_TYPE, type).withValue(RawContacts.ACCOUNT_NAME, name).build() }
        assertEquals(600, resolver.applyBatch(ContactsContract.AUTHORITY, yielding).size)

        // A failure in the middle rolls back the whole batch.
        provider.revokeAtOperation = 5
        val before = provider.snapshot()
        assertThrows(SecurityException::class.java) { resolver.applyBatch(ContactsContract.AUTHORITY, ops(10)) }
        assertEquals(before, provider.snapshot())
        provider.revokeAtOperation = null

        provider.maxOperationsPerTransaction = 3
        assertThrows(TransactionTooLargeException::class.java) { resolver.applyBatch(ContactsContract.AUTHORITY, ops(4)) }
        assertEquals(before, provider.snapshot())
        assertEquals(listOf(500, 499, 600, 10, 4), provider.batchSizes)
    }

    @Test
    fun `a display photo lands after the file is closed, on its own, and marks the raw contact dirty even for a sync adapter`() {
        val raw = insertRaw()
        assertThrows(FileNotFoundException::class.java) { resolver.openAssetFileDescriptor(displayPhoto(raw), "r") }
        val gate = CountDownLatch(1)
        provider.photoGate = gate
        val jpeg = Images.jpeg(1)
        writePhoto(sa(displayPhoto(raw)), jpeg)
        // Written and closed, but not processed yet: no row, not dirty.
        assertTrue(provider.dataRows(raw).isEmpty())
        assertEquals(0, provider.rawContact(raw)!!.dirty)
        gate.countDown()
        provider.awaitPhotos()
        val row = provider.dataRows(raw).single()
        assertEquals(Photo.CONTENT_ITEM_TYPE, row.mimetype)
        assertEquals(1, row.isPrimary)
        assertNotNull(row.data15)
        assertArrayEquals(jpeg, provider.photoBytes(row.photoFileId!!))
        assertEquals(1, provider.rawContact(raw)!!.dirty)
        val read = resolver.openAssetFileDescriptor(displayPhoto(raw), "r")!!.use { fd -> fd.createInputStream().use { it.readBytes() } }
        assertArrayEquals(jpeg, read)

        // A second photo replaces the file in the same row.
        val other = Images.jpeg(2)
        writePhoto(displayPhoto(raw), other)
        provider.awaitPhotos()
        val again = provider.dataRows(raw).single()
        assertEquals(row.id, again.id)
        assertTrue(again.photoFileId != row.photoFileId)
        assertArrayEquals(other, provider.photoBytes(again.photoFileId!!))
        assertEquals(1, provider.photoFileCount())
        assertTrue(provider.photoErrors.isEmpty())
    }

    @Test
    fun `photos the provider cannot take leave no row`() {
        val raw = insertRaw()
        writePhoto(displayPhoto(raw), "not an image".toByteArray())
        provider.photoFailure = PhotoFailure.PROCESSING
        writePhoto(displayPhoto(raw), Images.jpeg(3))
        provider.awaitPhotos()
        provider.photoFailure = PhotoFailure.OPEN
        assertThrows(FileNotFoundException::class.java) { writePhoto(displayPhoto(raw), Images.jpeg(3)) }
        assertTrue(provider.dataRows(raw).isEmpty())
        assertEquals(0, provider.rawContact(raw)!!.dirty)
    }
}
