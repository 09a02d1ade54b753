// The whole chain on the JVM: the real Rust library (target/debug/libcontacts_agent.so) through
// the generated uniffi API, Agent.withJniStore → JNI → ContactsContractStore → real
// ContentProviderOperations (Robolectric's framework) → FakeContactsProvider, syncing from the
// real reference server over loopback. Assertions read the provider's tables.
package app.contactsagent.android

import android.Manifest
import android.accounts.Account
import android.content.ContentUris
import android.net.Uri
import android.provider.ContactsContract.CommonDataKinds.Organization
import android.provider.ContactsContract.CommonDataKinds.Photo
import android.provider.ContactsContract.CommonDataKinds.StructuredName
import android.provider.ContactsContract.RawContacts
import app.contactsagent.sdk.Agent
import app.contactsagent.sdk.AgentConfig
import app.contactsagent.sdk.AgentException
import app.contactsagent.sdk.FailureKind
import app.contactsagent.sdk.JniBridge
import app.contactsagent.sdk.ReferenceServer
import app.contactsagent.testing.FakeContactsProvider
import app.contactsagent.testing.FakeContactsProvider.Companion.sha256
import app.contactsagent.testing.Images
import app.contactsagent.testing.OtherApp
import app.contactsagent.testing.PhoneUser
import app.contactsagent.testing.RawRow
import app.contactsagent.testing.ShellTestRunner
import org.json.JSONObject
import org.junit.After
import org.junit.AfterClass
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.BeforeClass
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.nio.file.Files

@RunWith(ShellTestRunner::class)
@Config(sdk = [34])
class ChainScenariosTest {
    companion object {
        private const val GROUP = "operations" // 34 of the 150 seeded people
        private lateinit var server: ReferenceServer

        /** Members of [GROUP] who have a photo on the server (set once for the class). */
        private lateinit var withPhotos: List<String>

        @BeforeClass
        @JvmStatic
        fun startServer() {
            server = ReferenceServer(users = 150)
            withPhotos = server.members(GROUP).sorted().take(3)
            withPhotos.forEachIndexed { i, id -> putPhoto(id, Images.jpeg(100 + i)) }
        }

        @AfterClass
        @JvmStatic
        fun stopServer() = server.close()

        /** PUT /v1/admin/users/{id}/photo (docs/openapi.yaml) with binary bytes. */
        fun putPhoto(userId: String, bytes: ByteArray) {
            server.adminBytes("PUT", "/v1/admin/users/$userId/photo", bytes)
        }

        /** The server's own view of a user: its contact data and photo hash. */
        fun user(id: String): JSONObject = JSONObject(server.admin("GET", "/v1/admin/users/$id")).getJSONObject("contact")

        fun photoHash(id: String): String? = user(id).optJSONObject("photo")?.getString("hash")

        /** PUT /v1/admin/users/{id}: a new title (the photo is kept by the server). */
        fun changeTitle(id: String, title: String) {
            val contact = user(id)
            contact.remove("photo")
            contact.put("title", title)
            server.admin("PUT", "/v1/admin/users/$id", contact.toString())
        }
    }

    private val account = Account("Company", "app.contactsagent.business")
    private val app get() = RuntimeEnvironment.getApplication()
    private lateinit var provider: FakeContactsProvider
    private lateinit var agent: Agent
    private var handle = 0L

    @Before
    fun setUp() {
        provider = FakeContactsProvider.install()
        shadowOf(app).grantPermissions(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
        handle = JniBridge.register(ContactsContractStore(app, account, photoWaitMs = 5_000))
        val config = AgentConfig(
            stateDir = Files.createTempDirectory("android-agent").toString(),
            accountType = account.type,
            pageSize = 200,
            commandPollSeconds = 1800,
        )
        agent = Agent.withJniStore(config, handle)
    }

    @After
    fun tearDown() {
        agent.close()
        JniBridge.release(handle)
        provider.close()
    }

    private fun enroll(name: String) {
        agent.enroll(server.url, server.device(listOf(GROUP), "android-$name"), "robolectric phone")
    }

    private fun ours(): List<RawRow> = provider.rawContacts("account_type = ?", account.type)
    private fun raw(id: String): RawRow = provider.rawContacts("account_type = ? AND sourceid = ?", account.type, id).single()
    private fun rows(id: String, mime: String) = provider.dataRows(raw(id).id).filter { it.mimetype == mime }
    private fun photoRow(id: String) = rows(id, Photo.CONTENT_ITEM_TYPE).singleOrNull()

    private fun displayPhoto(id: String): ByteArray {
        val uri = Uri.withAppendedPath(ContentUris.withAppendedId(RawContacts.CONTENT_URI, raw(id).id), RawContacts.DisplayPhoto.CONTENT_DIRECTORY)
        return app.contentResolver.openAssetFileDescriptor(uri, "r")!!.use { fd -> fd.createInputStream().use { it.readBytes() } }
    }

    /**
     * The phone holds exactly the server's set: one clean, live raw contact per member, its
     * name and title as on the server, SYNC2 = the photo's hash and the photo itself where the
     * server has one, no Photo row where it has none.
     */
    private fun assertConverged() {
        provider.awaitPhotos()
        val members = server.members(GROUP)
        val rawRows = ours()
        assertEquals(members, rawRows.map { it.sourceId }.toSet())
        assertEquals("one raw contact per id", members.size, rawRows.size)
        for (r in rawRows) {
            val id = r.sourceId!!
            assertEquals("$id dirty", 0, r.dirty)
            assertEquals("$id deleted", 0, r.deleted)
            val contact = user(id)
            assertEquals(listOf(contact.getString("display_name")), rows(id, StructuredName.CONTENT_ITEM_TYPE).map { it.data[0] })
            assertEquals(contact.optString("title", null), rows(id, Organization.CONTENT_ITEM_TYPE).singleOrNull()?.data?.get(3))
            val hash = photoHash(id)
            assertEquals("$id SYNC2", hash, r.sync2)
            if (hash == null) assertNull(photoRow(id)) else assertEquals(hash, sha256(displayPhoto(id)))
        }
        assertTrue(provider.photoErrors.toString(), provider.photoErrors.isEmpty())
    }

    @Test
    fun `the MDM group appears on the phone as a visible group of our account holding its members, and follows a rename`() {
        enroll("groups")
        agent.syncNow()
        val ours = provider.groups().filter { it.accountType == account.type }
        assertEquals(listOf(GROUP to "Operations"), ours.map { it.sourceId to it.title })
        assertEquals(listOf(1 to 1), ours.map { it.visible to it.readOnly })
        val group = ours.single().id
        assertEquals(server.members(GROUP), provider.members(group).map { provider.rawContact(it)!!.sourceId }.toSet())
        try {
            server.admin("PUT", "/v1/admin/groups/$GROUP", JSONObject().put("name", "Ops").toString())
            agent.syncNow()
            // The same group row, retitled; every member still in it, every contact clean.
            val renamed = provider.groups().filter { it.accountType == account.type }
            assertEquals(listOf(Triple(group, GROUP, "Ops")), renamed.map { Triple(it.id, it.sourceId, it.title) })
            assertEquals(server.members(GROUP), provider.members(group).map { provider.rawContact(it)!!.sourceId }.toSet())
            assertConverged()
        } finally {
            server.admin("PUT", "/v1/admin/groups/$GROUP", JSONObject().put("name", "Operations").toString())
        }
    }

    @Test
    fun `first sync writes every contact, photos through display_photo, and leaves them clean`() {
        enroll("first")
        val result = agent.syncNow()
        assertEquals(server.members(GROUP).size.toLong(), result.inserted)
        assertEquals(0L, result.photosFailed)
        assertConverged()
        for (id in withPhotos) {
            val photo = photoRow(id)!!
            assertEquals(1, photo.isPrimary)
            assertNotNull(photo.data15)
            assertEquals(photoHash(id)!!, raw(id).sync2)
        }
        // Batches stay under the provider's yield-point limit; photos never travel in them.
        assertTrue(provider.batchSizes.toString(), provider.batchSizes.all { it <= 499 })
        assertTrue(ours().all { r -> r.readOnly == 1 })
    }

    @Test
    fun `an update from the server keeps the photo as it is`() {
        enroll("update")
        agent.syncNow()
        val id = withPhotos[0]
        val before = photoRow(id)!!
        val oldHash = raw(id).sync1
        changeTitle(id, "Senior Partner (update test)")
        val result = agent.syncNow()
        assertEquals(1L, result.updated)
        assertNotEquals(oldHash, raw(id).sync1)
        val after = photoRow(id)!!
        assertEquals(before.id to before.photoFileId, after.id to after.photoFileId)
        assertEquals("Senior Partner (update test)", rows(id, Organization.CONTENT_ITEM_TYPE).single().data[3])
        assertConverged()
    }

    @Test
    fun `a photo changed on the server replaces the file and SYNC2`() {
        enroll("photo")
        agent.syncNow()
        val id = withPhotos[1]
        val old = photoRow(id)!!
        val bytes = Images.jpeg(200)
        putPhoto(id, bytes)
        agent.syncNow()
        provider.awaitPhotos()
        assertEquals(sha256(bytes), raw(id).sync2)
        assertArrayEquals(bytes, displayPhoto(id))
        assertNotEquals(old.photoFileId, photoRow(id)!!.photoFileId)
        assertConverged()
        putPhoto(id, Images.jpeg(101)) // as the class set it
    }

    @Test
    fun `a user's edit is put back by the next sync`() {
        enroll("edit")
        agent.syncNow()
        val id = withPhotos[2]
        val photo = photoRow(id)!!
        PhoneUser(app.contentResolver).editName(raw(id).id, "Someone Else")
        assertEquals(1, raw(id).dirty)
        agent.syncNow()
        assertEquals(listOf(user(id).getString("display_name")), rows(id, StructuredName.CONTENT_ITEM_TYPE).map { it.data[0] })
        assertEquals(photo.id, photoRow(id)!!.id)
        assertConverged()
    }

    @Test
    fun `a contact the user deleted comes back, photo included`() {
        enroll("delete")
        agent.syncNow()
        val id = withPhotos[0]
        val plain = server.members(GROUP).first { it !in withPhotos }
        val user = PhoneUser(app.contentResolver)
        user.deleteContact(raw(id).id)
        user.deleteContact(raw(plain).id)
        assertEquals(1 to 1, raw(id).deleted to raw(id).dirty)
        agent.syncNow()
        assertNotNull(photoRow(id))
        assertConverged()
    }

    @Test
    fun `another app's row on our raw contact survives an update`() {
        enroll("foreign")
        agent.syncNow()
        val id = server.members(GROUP).sorted().last()
        val rawId = raw(id).id
        val foreign = OtherApp(app.contentResolver).addRow(rawId)
        assertEquals(1, raw(id).dirty)
        changeTitle(id, "Counsel (foreign row test)")
        agent.syncNow()
        assertEquals(rawId, raw(id).id)
        val row = provider.dataRow(foreign)!!
        assertEquals(OtherApp.WHATSAPP to rawId, row.mimetype to row.rawId)
        assertEquals("Counsel (foreign row test)", rows(id, Organization.CONTENT_ITEM_TYPE).single().data[3])
        assertConverged()
    }

    @Test
    fun `a batch too large for the Binder is split and the sync still completes`() {
        enroll("split")
        provider.maxOperationsPerTransaction = 40
        val result = agent.syncNow()
        assertEquals(server.members(GROUP).size.toLong(), result.inserted)
        assertTrue("some batches were refused: ${provider.batchSizes}", provider.batchSizes.any { it > 40 })
        assertConverged()
    }

    @Test
    fun `a missing permission fails the sync with the typed error, writes nothing and leaves personal contacts alone`() {
        enroll("permission")
        val user = PhoneUser(app.contentResolver)
        user.addContact("Mum", "+48 600 000 001")
        user.addContact("Plumber", "+48 600 000 002", "com.google", "me@example.com")
        fun personal() = provider.rawContacts("account_type IS NULL OR account_type != ?", account.type)
            .map { it to provider.dataRows(it.id).map { row -> row.toString() } }
        val personalBefore = personal()
        val before = provider.snapshot()
        shadowOf(app).denyPermissions(Manifest.permission.WRITE_CONTACTS)
        val failure = requireNotNull(agent.runDue().syncError) { "the sync should have failed" }
        assertEquals(FailureKind.PERMISSION_DENIED, failure.kind)
        assertTrue(failure.needsAction)
        assertThrows(AgentException.PermissionDenied::class.java) { agent.syncNow() }
        assertEquals(before, provider.snapshot())
        assertEquals(FailureKind.PERMISSION_DENIED, agent.status().needsAction?.kind)

        // Revoked in the middle of a batch: that batch rolls back, the error is the same.
        shadowOf(app).grantPermissions(Manifest.permission.WRITE_CONTACTS)
        provider.revokeAtOperation = 7
        assertThrows(AgentException.PermissionDenied::class.java) { agent.syncNow() }
        assertEquals(before, provider.snapshot())

        provider.revokeAtOperation = null
        agent.syncNow()
        assertConverged()
        assertNull(agent.status().needsAction)
        assertEquals(2, personalBefore.size)
        assertEquals(personalBefore, personal())
    }
}
