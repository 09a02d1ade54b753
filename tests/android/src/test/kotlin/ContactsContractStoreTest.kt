// ContactsContractStore inside Robolectric against the ContactsProvider stand-in, fed bridge
// batches (the binary payloads the Rust core sends, src/store/bridge.rs) directly: the shell's own behaviour,
// case by case, without the core. The whole chain runs in ChainScenariosTest.
package app.contactsagent.android

import android.Manifest
import android.accounts.Account
import android.content.ContentUris
import android.content.ContentValues
import android.provider.ContactsContract
import android.provider.ContactsContract.CommonDataKinds.Photo
import android.provider.ContactsContract.Data
import app.contactsagent.sdk.BridgeCodec
import app.contactsagent.sdk.BridgeFormat
import app.contactsagent.sdk.BridgeOp
import app.contactsagent.sdk.BridgeRow
import app.contactsagent.sdk.ContactStorePermissionException
import app.contactsagent.sdk.IndexRecord
import app.contactsagent.sdk.PersonalInsert
import app.contactsagent.sdk.PersonalRecord
import app.contactsagent.sdk.ContactStoreUnavailableException
import app.contactsagent.testing.FakeContactsProvider
import app.contactsagent.testing.FakeContactsProvider.Companion.sha256
import app.contactsagent.testing.Images
import app.contactsagent.testing.OtherApp
import app.contactsagent.testing.PhoneUser
import app.contactsagent.testing.PhotoFailure
import app.contactsagent.testing.ShellTestRunner
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.util.concurrent.CountDownLatch

/** Bridge batches as the core writes them (src/store/bridge.rs): TYPE integers, raw photo bytes. */
object Ops {
    const val NAME = "vnd.android.cursor.item/name"
    const val PHONE = "vnd.android.cursor.item/phone_v2"
    val OWNED = listOf(NAME, PHONE, "vnd.android.cursor.item/email_v2", "vnd.android.cursor.item/organization",
        "vnd.android.cursor.item/postal-address_v2", "vnd.android.cursor.item/note", "vnd.android.cursor.item/group_membership")

    fun row(mime: String, vararg data: String?) = BridgeRow(mime, List(10) { data.getOrNull(it) })

    private fun write(update: Boolean, id: String, hash: String, name: String, photoAction: Int, photo: ByteArray?) =
        BridgeOp.Write(
            update, id, hash,
            // Phone.TYPE_MOBILE is 2.
            listOf(row(NAME, name, name.substringBefore(' '), name.substringAfter(' ')), row(PHONE, "+48 600 ${id.hashCode() % 1000}", "2")),
            emptyList(), photoAction, photo?.let { sha256(it) }, photo, if (update) OWNED else emptyList(),
        )

    fun insert(id: String, hash: String = "h-$id", name: String = "Anna Nowak", photo: ByteArray? = null) =
        write(false, id, hash, name, if (photo == null) BridgeFormat.PHOTO_KEEP else BridgeFormat.PHOTO_SET, photo)

    fun update(id: String, hash: String, name: String = "Anna Nowak", photoAction: String = "keep", photo: ByteArray? = null) =
        write(
            true, id, hash, name,
            when (photoAction) { "set" -> BridgeFormat.PHOTO_SET; "clear" -> BridgeFormat.PHOTO_CLEAR; else -> BridgeFormat.PHOTO_KEEP },
            photo,
        )

    fun delete(id: String) = BridgeOp.Delete(id)
    fun deleteRaw(rawId: Long) = BridgeOp.DeleteRaw(rawId)

    /** A contact write in MDM groups (their SOURCE_IDs). */
    fun inGroups(w: BridgeOp.Write, vararg sourceIds: String) =
        BridgeOp.Write(w.update, w.id, w.hash, w.rows, sourceIds.toList(), w.photoAction, w.photoHash, w.photo, w.ownedMimetypes)
    fun insertGroup(sourceId: String, title: String) = BridgeOp.InsertGroup(sourceId, title)
    fun renameGroup(groupId: Long, title: String) = BridgeOp.RenameGroup(groupId, title)
    fun deleteGroup(groupId: Long) = BridgeOp.DeleteGroup(groupId)

    fun batch(vararg ops: BridgeOp): ByteArray = BridgeCodec.encodeOps(ops.toList())
}

@RunWith(ShellTestRunner::class)
@Config(sdk = [34])
class ContactsContractStoreTest {
    private val account = Account("Company", "app.contactsagent.business")
    private lateinit var provider: FakeContactsProvider
    private lateinit var store: ContactsContractStore
    private val app get() = RuntimeEnvironment.getApplication()

    @Before
    fun setUp() {
        provider = FakeContactsProvider.install()
        shadowOf(app).grantPermissions(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
        store = ContactsContractStore(app, account, photoWaitMs = 2_000)
    }

    @After
    fun tearDown() = provider.close()

    private fun ours() = provider.rawContacts("account_type = ?", account.type)
    private fun raw(id: String) = provider.rawContacts("sourceid = ?", id).single()
    private fun photoRow(rawId: Long) = provider.dataRows(rawId).singleOrNull { it.mimetype == Photo.CONTENT_ITEM_TYPE }
    private fun index(): List<IndexRecord> = BridgeCodec.decodeIndex(store.managedIndex())
    private val IndexRecord.state get() = when { deleted -> "deleted"; dirty -> "dirty"; else -> "clean" }

    @Test
    fun `an insert gets its photo hash in SYNC2 only once the provider has stored the photo, and ends clean`() {
        val jpeg = Images.jpeg(1)
        val gate = CountDownLatch(1)
        provider.photoGate = gate
        var failure: Throwable? = null
        val run = Thread {
            try {
                store.applyBatch(Ops.batch(Ops.insert("u-1", photo = jpeg), Ops.insert("u-2")))
            } catch (e: Throwable) {
                failure = e
            }
        }.apply { start() }
        // The batch has committed; the photo is written but the provider has not processed it.
        while (ours().size < 2) Thread.sleep(5)
        assertNull(raw("u-1").sync2)
        gate.countDown()
        run.join(10_000)
        assertNull(failure)
        val r = raw("u-1")
        assertEquals("h-u-1", r.sync1)
        assertEquals(sha256(jpeg), r.sync2)
        assertEquals(0, r.dirty)
        assertEquals(1, r.readOnly)
        assertArrayEquals(jpeg, provider.photoBytes(photoRow(r.id)!!.photoFileId!!))
        assertNull(raw("u-2").sync2)
        assertTrue(provider.dataRows(r.id).filter { it.mimetype != Photo.CONTENT_ITEM_TYPE }.all { it.isReadOnly == 1 })
        assertEquals(listOf("clean", "clean"), index().map { it.state })
        assertEquals(ours().map { it.id }.toSet(), index().map { it.rawId }.toSet())
    }

    @Test
    fun `an update replaces only the owned rows, the photo and another app's row stay, SYNC2 untouched`() {
        val jpeg = Images.jpeg(2)
        store.applyBatch(Ops.batch(Ops.insert("u-1", photo = jpeg)))
        val r = raw("u-1")
        val photo = photoRow(r.id)!!
        val foreign = OtherApp(app.contentResolver).addRow(r.id)
        assertEquals(1, raw("u-1").dirty)
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-2", name = "Anna Kowalska")))
        val after = raw("u-1")
        assertEquals("h-2" to 0, after.sync1 to after.dirty)
        assertEquals(sha256(jpeg), after.sync2)
        val rows = provider.dataRows(r.id)
        assertEquals(photo.id to photo.photoFileId, photoRow(r.id)!!.let { it.id to it.photoFileId })
        assertTrue(rows.any { it.id == foreign && it.mimetype == OtherApp.WHATSAPP })
        assertEquals(listOf("Anna Kowalska"), rows.filter { it.mimetype == Ops.NAME }.map { it.data[0] })
        assertEquals(1, rows.count { it.mimetype == Ops.PHONE })
    }

    @Test
    fun `a new photo replaces the file after the batch, a cleared photo goes inside the batch`() {
        store.applyBatch(Ops.batch(Ops.insert("u-1", photo = Images.jpeg(3))))
        val rawId = raw("u-1").id
        val second = Images.jpeg(4)
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-2", photoAction = "set", photo = second)))
        assertEquals(sha256(second) to 0, raw("u-1").sync2 to raw("u-1").dirty)
        assertArrayEquals(second, provider.photoBytes(photoRow(rawId)!!.photoFileId!!))
        assertEquals(1, provider.photoFileCount())
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-3", photoAction = "clear")))
        assertNull(photoRow(rawId))
        assertNull(raw("u-1").sync2)
        assertEquals(0, raw("u-1").dirty)
        assertEquals(0, provider.photoFileCount())
    }

    @Test
    fun `a read-only Photo row the provider would not update is replaced`() {
        store.applyBatch(Ops.batch(Ops.insert("u-1")))
        val rawId = raw("u-1").id
        // A blob-route Photo row written as sync adapter with IS_READ_ONLY (e.g. by an older shell).
        app.contentResolver.insert(
            Data.CONTENT_URI.buildUpon().appendQueryParameter(ContactsContract.CALLER_IS_SYNCADAPTER, "true").build(),
            ContentValues().apply {
                put(Data.RAW_CONTACT_ID, rawId)
                put(Data.MIMETYPE, Photo.CONTENT_ITEM_TYPE)
                put(Data.IS_READ_ONLY, 1)
            },
        )
        val jpeg = Images.jpeg(11)
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-2", photoAction = "set", photo = jpeg)))
        assertEquals(sha256(jpeg) to 0, raw("u-1").sync2 to raw("u-1").dirty)
        assertArrayEquals(jpeg, provider.photoBytes(photoRow(rawId)!!.photoFileId!!))
    }

    @Test
    fun `a photo the provider does not take leaves SYNC2 as it was and the rest of the batch stands`() {
        store = ContactsContractStore(app, account, photoWaitMs = 300)
        provider.photoFailure = PhotoFailure.PROCESSING
        store.applyBatch(Ops.batch(Ops.insert("u-1", photo = Images.jpeg(5)), Ops.insert("u-2")))
        provider.photoFailure = PhotoFailure.OPEN
        store.applyBatch(Ops.batch(Ops.insert("u-3", photo = Images.jpeg(6))))
        for (id in listOf("u-1", "u-2", "u-3")) {
            assertNull(raw(id).sync2)
            assertNull(photoRow(raw(id).id))
            assertEquals(0, raw(id).dirty)
        }
        // An update's new photo refused: the old hash stays, so the core sends it again.
        provider.photoFailure = PhotoFailure.NONE
        val first = Images.jpeg(7)
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-2", photoAction = "set", photo = first)))
        assertEquals(sha256(first), raw("u-1").sync2)
        provider.photoFailure = PhotoFailure.PROCESSING
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-3", photoAction = "set", photo = Images.jpeg(8))))
        assertEquals("h-3" to sha256(first), raw("u-1").sync1 to raw("u-1").sync2)
        provider.awaitPhotos()
        assertTrue(provider.photoErrors.isEmpty())
    }

    @Test
    fun `photo processing slower than the wait leaves SYNC2 stays unset and the contact turns dirty when it lands`() {
        store = ContactsContractStore(app, account, photoWaitMs = 200)
        val gate = CountDownLatch(1)
        provider.photoGate = gate
        store.applyBatch(Ops.batch(Ops.insert("u-1", photo = Images.jpeg(9))))
        assertNull(raw("u-1").sync2)
        assertEquals(0, raw("u-1").dirty)
        gate.countDown()
        provider.awaitPhotos()
        // The provider's own write marks it dirty: the next sync rewrites it and its photo.
        assertEquals(1, raw("u-1").dirty)
        assertEquals("dirty", index().single().state)
    }

    @Test
    fun `duplicates are all listed, delete_raw removes exactly one raw contact of our account, updates go to the one kept`() {
        store.applyBatch(Ops.batch(Ops.insert("u-1"), Ops.insert("u-1"), Ops.insert("u-2")))
        val (first, second) = provider.rawContacts("sourceid = ?", "u-1").map { it.id }
        PhoneUser(app.contentResolver).deleteContact(first)
        assertEquals(
            mapOf(first to "deleted", second to "clean"),
            index().filter { it.sourceId == "u-1" }.associate { it.rawId to it.state },
        )
        // The core keeps the clean copy: an update names it by SOURCE_ID and must land there.
        store.applyBatch(Ops.batch(Ops.update("u-1", "h-new", name = "Anna Kowalska")))
        assertEquals("h-new", provider.rawContact(second)!!.sync1)
        assertEquals("h-u-1", provider.rawContact(first)!!.sync1)
        // delete_raw of someone else's raw contact reaches nothing.
        val personal = PhoneUser(app.contentResolver).addContact("Mum", "+48 1")
        store.applyBatch(Ops.batch(Ops.deleteRaw(personal), Ops.deleteRaw(first)))
        assertEquals(2, provider.dataRows(personal).size)
        assertNull(provider.rawContact(first))
        assertEquals(setOf("u-1", "u-2"), ours().map { it.sourceId }.toSet())
        // In one batch with the delete_raw of a copy, an update goes to the other one.
        store.applyBatch(Ops.batch(Ops.insert("u-2")))
        val (a, b) = provider.rawContacts("sourceid = ?", "u-2").map { it.id }
        store.applyBatch(Ops.batch(Ops.deleteRaw(a), Ops.update("u-2", "h-kept")))
        assertNull(provider.rawContact(a))
        assertEquals("h-kept", provider.rawContact(b)!!.sync1)
        // delete by id removes every copy, tombstones included.
        store.applyBatch(Ops.batch(Ops.delete("u-1"), Ops.delete("u-2")))
        assertTrue(ours().isEmpty())
    }

    @Test
    fun `a batch too large for the Binder is split in halves at contact boundaries and applied whole`() {
        provider.maxOperationsPerTransaction = 5
        store.applyBatch(Ops.batch(*(1..4).map { Ops.insert("u-$it") }.toTypedArray()))
        assertEquals((1..4).map { "u-$it" }.toSet(), ours().map { it.sourceId }.toSet())
        assertTrue(ours().all { provider.dataRows(it.id).size == 2 })
        // 12 operations fail, then two halves of 6 fail, then four contacts of 3 pass.
        assertEquals(listOf(12, 6, 3, 3, 6, 3, 3), provider.batchSizes)
    }

    @Test
    fun `without the contacts permission every call throws ContactStorePermissionException and nothing is touched`() {
        store.applyBatch(Ops.batch(Ops.insert("u-1")))
        PhoneUser(app.contentResolver).addContact("Mum", "+48 1")
        val before = provider.snapshot()
        shadowOf(app).denyPermissions(Manifest.permission.WRITE_CONTACTS)
        val calls = listOf<() -> Unit>(
            { store.applyBatch(Ops.batch(Ops.insert("u-2"))) },
            { store.managedIndex() },
            { store.managedContacts(0, 10) },
            { store.personalPage(-1, 10) },
            { store.insertPersonal(BridgeCodec.encodePersonalInsert(PersonalInsert(null, null, emptyList()))) },
            { store.personalAccounts() },
            { store.ensureVisible() },
        )
        for (call in calls) assertEquals(ContactStorePermissionException::class.java, assertThrows(SecurityException::class.java) { call() }.javaClass)
        assertEquals(before, provider.snapshot())
    }

    @Test
    fun `a permission revoked mid-batch rolls the batch back and is reported as ContactStorePermissionException`() {
        store.applyBatch(Ops.batch(Ops.insert("u-1")))
        val before = provider.snapshot()
        provider.revokeAtOperation = 4
        val e = assertThrows(SecurityException::class.java) { store.applyBatch(Ops.batch(Ops.insert("u-2"), Ops.insert("u-3"))) }
        assertEquals(ContactStorePermissionException::class.java, e.javaClass)
        assertEquals(before, provider.snapshot())
        provider.revokeAtOperation = null
        provider.permissionDenied = true
        assertEquals(ContactStorePermissionException::class.java, assertThrows(SecurityException::class.java) { store.managedIndex() }.javaClass)
    }

    @Test
    fun `a dead provider is reported as ContactStoreUnavailableException, for writes and for reads`() {
        provider.dead = true
        val write = assertThrows(IllegalStateException::class.java) { store.applyBatch(Ops.batch(Ops.insert("u-1"))) }
        assertEquals(ContactStoreUnavailableException::class.java, write.javaClass)
        // ContentResolver.query answers null then; read as "no contacts" it would duplicate them all.
        val read = assertThrows(IllegalStateException::class.java) { store.managedIndex() }
        assertEquals(ContactStoreUnavailableException::class.java, read.javaClass)
        assertTrue(provider.rawContacts().isEmpty())
    }

    @Test
    fun `the account is made visible, and managed and personal reads keep to their own contacts`() {
        store.ensureVisible()
        assertEquals(1 to 1, provider.settings(account.type, account.name))
        store.applyBatch(Ops.batch(Ops.insert("u-2"), Ops.insert("u-1", photo = Images.jpeg(10)), Ops.insert("u-3")))
        PhoneUser(app.contentResolver).deleteContact(raw("u-3").id)
        val mum = PhoneUser(app.contentResolver).addContact("Mum", "+48 1")
        val page = BridgeCodec.decodeManaged(store.managedContacts(0, 10))
        assertEquals(listOf("u-1", "u-2"), page.map { it.sourceId })
        assertEquals(sha256(Images.jpeg(10)), page[0].sync2)
        assertEquals(1, BridgeCodec.decodeManaged(store.managedContacts(1, 10)).size)
        val personal = BridgeCodec.decodePersonal(store.personalPage(-1, 10))
        assertEquals(listOf(mum), personal.map { it.rawId })
        // The provider's columns as stored: the core reads the TYPE integer.
        assertEquals(ContactsContract.CommonDataKinds.Phone.TYPE_MOBILE.toString(), personal[0].rows.single { it.mimetype == Ops.PHONE }.data[1])
    }

    @Test
    fun `MDM groups land as visible read-only groups of our account with membership rows, and other accounts' groups are left alone`() {
        // The user's own group in another account, with a personal contact in it.
        val mum = PhoneUser(app.contentResolver).addContact("Mum", "+48 1", "com.google", "me@example.com")
        val family = ContentUris.parseId(
            app.contentResolver.insert(
                ContactsContract.Groups.CONTENT_URI,
                ContentValues().apply {
                    put(ContactsContract.Groups.ACCOUNT_TYPE, "com.google")
                    put(ContactsContract.Groups.ACCOUNT_NAME, "me@example.com")
                    put(ContactsContract.Groups.TITLE, "Family")
                    put(ContactsContract.Groups.SOURCE_ID, "harvey") // the same source id as ours, on purpose
                },
            )!!,
        )
        app.contentResolver.insert(
            Data.CONTENT_URI,
            ContentValues().apply {
                put(Data.RAW_CONTACT_ID, mum)
                put(Data.MIMETYPE, ContactsContract.CommonDataKinds.GroupMembership.CONTENT_ITEM_TYPE)
                put(ContactsContract.CommonDataKinds.GroupMembership.GROUP_ROW_ID, family)
            },
        )
        val familyBefore = provider.groups().single { it.id == family }

        store.applyBatch(
            Ops.batch(
                Ops.insertGroup("harvey", "Harvey"), Ops.insertGroup("mike", "Mike"),
                Ops.inGroups(Ops.insert("u-1"), "harvey", "mike"), Ops.inGroups(Ops.insert("u-2"), "harvey"), Ops.insert("u-3"),
            ),
        )
        val ours = provider.groups().filter { it.accountType == account.type }
        assertEquals(listOf("harvey" to "Harvey", "mike" to "Mike"), ours.map { it.sourceId to it.title })
        assertTrue(ours.all { it.visible == 1 && it.readOnly == 1 && it.dirty == 0 && it.deleted == 0 })
        val harvey = ours[0].id
        val mike = ours[1].id
        assertEquals(setOf(raw("u-1").id, raw("u-2").id), provider.members(harvey).toSet())
        assertEquals(listOf(raw("u-1").id), provider.members(mike))
        assertTrue("written as the sync adapter", provider.rawContacts().filter { it.accountType == account.type }.all { it.dirty == 0 })

        // What the core reads back: each group with its live members, each contact with its groups.
        val groups = BridgeCodec.decodeGroups(store.managedGroups())
        assertEquals(listOf(2L, 1L), groups.map { it.members })
        val page = BridgeCodec.decodeManaged(store.managedContacts(0, 10))
        assertEquals(listOf(listOf("Harvey", "Mike"), listOf("Harvey"), emptyList()), page.map { c -> c.groups.map { it.second } })

        // A rename keeps the row; an update replaces the memberships; a delete takes its memberships.
        store.applyBatch(Ops.batch(Ops.renameGroup(mike, "Mike Ross"), Ops.inGroups(Ops.update("u-1", "h-1b"), "mike")))
        assertEquals("Mike Ross", provider.groups().single { it.id == mike }.title)
        assertEquals(listOf(raw("u-2").id), provider.members(harvey))
        store.applyBatch(Ops.batch(Ops.deleteGroup(mike)))
        assertTrue(provider.groups().none { it.id == mike })
        assertTrue(provider.members(mike).isEmpty())

        // Another account's group is never reached, even by its _ID.
        store.applyBatch(Ops.batch(Ops.deleteGroup(family), Ops.renameGroup(family, "Ours now")))
        assertEquals(familyBefore, provider.groups().single { it.id == family })
        assertEquals(listOf(mum), provider.members(family))
        assertEquals(1, BridgeCodec.decodeGroups(store.managedGroups()).size)
    }

    private fun starred(rawId: Long): Boolean =
        app.contentResolver.query(ContentUris.withAppendedId(ContactsContract.RawContacts.CONTENT_URI, rawId), arrayOf(ContactsContract.RawContacts.STARRED), null, null, null)!!
            .use { c -> c.moveToFirst() && c.getInt(0) != 0 }

    @Test
    fun `a personal contact's account, starred flag and group titles go to the backup, and a restore puts them back`() {
        val resolver = app.contentResolver
        val mum = PhoneUser(resolver).addContact("Mum", "+48 1", "com.google", "me@example.com")
        resolver.update(ContentUris.withAppendedId(ContactsContract.RawContacts.CONTENT_URI, mum), ContentValues().apply { put(ContactsContract.RawContacts.STARRED, 1) }, null, null)
        val family = ContentUris.parseId(
            resolver.insert(
                ContactsContract.Groups.CONTENT_URI,
                ContentValues().apply {
                    put(ContactsContract.Groups.ACCOUNT_TYPE, "com.google")
                    put(ContactsContract.Groups.ACCOUNT_NAME, "me@example.com")
                    put(ContactsContract.Groups.TITLE, "Family")
                },
            )!!,
        )
        resolver.insert(
            Data.CONTENT_URI,
            ContentValues().apply {
                put(Data.RAW_CONTACT_ID, mum)
                put(Data.MIMETYPE, ContactsContract.CommonDataKinds.GroupMembership.CONTENT_ITEM_TYPE)
                put(ContactsContract.CommonDataKinds.GroupMembership.GROUP_ROW_ID, family)
            },
        )
        val read = BridgeCodec.decodePersonal(store.personalPage(-1, 10)).single()
        assertEquals("com.google" to "me@example.com", read.accountType to read.accountName)
        assertTrue(read.starred)
        assertEquals(listOf("Family"), read.groupTitles)
        assertTrue(read.rows.none { it.mimetype == ContactsContract.CommonDataKinds.GroupMembership.CONTENT_ITEM_TYPE })

        // The phone's accounts: AccountManager's and those contacts live in, never ours.
        shadowOf(android.accounts.AccountManager.get(app)).addAccount(Account("work@example.com", "com.example.exchange"))
        shadowOf(android.accounts.AccountManager.get(app)).addAccount(account)
        assertEquals(
            listOf("com.example.exchange" to "work@example.com", "com.google" to "me@example.com"),
            BridgeCodec.decodeAccounts(store.personalAccounts()),
        )

        // Restored into its own account: starred, in its existing group and a new one there.
        val again = PersonalRecord(0, null, null, true, read.rows, listOf("Family", "Friends"), null)
        store.insertPersonal(BridgeCodec.encodePersonalInsert(PersonalInsert("com.google", "me@example.com", listOf(again))))
        val restored = provider.rawContacts("account_type = ?", "com.google").map { it.id }.single { it != mum }
        assertEquals("me@example.com", provider.rawContacts("_id = ?", restored.toString()).single().accountName)
        assertTrue(starred(restored))
        assertEquals(listOf(mum, restored), provider.members(family))
        val friends = provider.groups().single { it.title == "Friends" }
        assertEquals("com.google", friends.accountType)
        assertEquals(listOf(restored), provider.members(friends.id))
        assertEquals(read.rows.map { it.mimetype to it.data }, provider.dataRows(restored).filter { it.mimetype != ContactsContract.CommonDataKinds.GroupMembership.CONTENT_ITEM_TYPE }.map { it.mimetype to it.data.take(10) })

        // Device-local when the payload names no account; never into ours.
        store.insertPersonal(BridgeCodec.encodePersonalInsert(PersonalInsert(null, null, listOf(PersonalRecord(0, null, null, false, read.rows, emptyList(), null)))))
        assertEquals(1, provider.rawContacts("account_type IS NULL").size)
        val before = provider.snapshot()
        assertThrows(IllegalStateException::class.java) {
            store.insertPersonal(BridgeCodec.encodePersonalInsert(PersonalInsert(account.type, account.name, listOf(again))))
        }
        // A payload of another version: refused before anything is written.
        val bad = BridgeCodec.encodePersonalInsert(PersonalInsert(null, null, listOf(again))).also { it[3] = 9 }
        assertThrows(IllegalArgumentException::class.java) { store.insertPersonal(bad) }
        assertEquals(before, provider.snapshot())
    }
}
