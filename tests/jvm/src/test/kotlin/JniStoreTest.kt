// The Rust core reading and writing a Kotlin ContactStoreBridge through JNI: a sync whose
// store lives in the JVM, a store that throws mid-sync, and backup/restore through the bridge.
package app.contactsagent.sdk

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files
import java.util.TreeMap

/** An in-memory ContactStoreBridge: what the Android adapter does, minus ContactsProvider. */
class MemoryStore : ContactStoreBridge {
    data class Managed(val rawId: Long, val hash: String, val photoHash: String?, val rows: List<BridgeRow>, val state: String, val groups: List<String> = emptyList())

    /** Contact groups of the account: _ID → (SOURCE_ID, TITLE). */
    val groups = TreeMap<Long, Pair<String, String>>()
    private var nextGroup = 1L

    val managed = TreeMap<String, Managed>()
    val personal = TreeMap<Long, PersonalRecord>()
    /** The phone's accounts other than ours, as (type, name). */
    val accounts = mutableListOf<Pair<String, String>>()
    private var nextRaw = 1L
    var batches = 0
    var failOnBatch = -1
    /** Every call throws what the ContactsProvider adapter throws without the permission. */
    var permissionDenied = false
    var calls = 0

    override fun managedIndex(): ByteArray {
        calls++
        if (permissionDenied) throw ContactStorePermissionException()
        return BridgeCodec.encodeIndex(
            managed.map { (id, m) -> IndexRecord(m.rawId, id, m.hash, m.photoHash, dirty = m.state != "clean", deleted = m.state == "deleted") },
        )
    }

    override fun applyBatch(ops: ByteArray) {
        calls++
        if (permissionDenied) throw ContactStorePermissionException()
        batches++
        if (batches == failOnBatch) throw IllegalStateException("content provider died")
        keys = null
        // All or nothing, like applyBatch: decode and check every op first, then apply.
        val list = BridgeCodec.decodeOps(ops)
        val seen = HashSet<String>()
        val deleted = list.filterIsInstance<BridgeOp.Delete>().map { it.id }.toSet()
        for (op in list) {
            val id = when (op) {
                is BridgeOp.Write -> op.id
                is BridgeOp.Delete -> op.id
                else -> continue
            }
            val exists = id in seen || managed.containsKey(id)
            if (op is BridgeOp.Write) {
                if (op.update) check(exists) { "update of a missing contact" } else check(!exists || id in deleted) { "insert of an existing contact" }
            }
            seen.add(id)
        }
        for (op in list) {
            when (op) {
                is BridgeOp.InsertGroup -> groups[nextGroup++] = op.sourceId to op.title
                is BridgeOp.RenameGroup -> groups.computeIfPresent(op.groupId) { _, g -> g.first to op.title }
                is BridgeOp.DeleteGroup -> groups.remove(op.groupId)
                is BridgeOp.DeleteRaw -> managed.entries.removeIf { it.value.rawId == op.rawId }
                is BridgeOp.Delete -> managed.remove(op.id)
                is BridgeOp.Write -> {
                    val photo = when (op.photoAction) {
                        BridgeFormat.PHOTO_SET -> op.photoHash
                        BridgeFormat.PHOTO_CLEAR -> null
                        else -> managed[op.id]?.photoHash
                    }
                    managed[op.id] = Managed(managed[op.id]?.rawId ?: nextRaw++, op.hash, photo, op.rows, "clean", op.groupSourceIds)
                }
            }
        }
    }

    private var keys: List<String>? = null

    override fun managedGroups(): ByteArray {
        calls++
        if (permissionDenied) throw ContactStorePermissionException()
        return BridgeCodec.encodeGroups(
            groups.map { (id, g) -> GroupRecord(id, g.first, g.second, dirty = false, deleted = false, members = managed.values.count { g.first in it.groups }.toLong()) },
        )
    }

    override fun managedContacts(offset: Int, limit: Int): ByteArray {
        calls++
        val ids = keys ?: managed.keys.toList().also { keys = it }
        val page = ids.subList(offset.coerceAtMost(ids.size), (offset.toLong() + limit).coerceAtMost(ids.size.toLong()).toInt())
        return BridgeCodec.encodeManaged(
            page.map { id ->
                val m = managed.getValue(id)
                ManagedRecord(id, m.hash, m.photoHash, m.rows, m.groups.map { g -> g to groups.values.firstOrNull { it.first == g }?.second })
            },
        )
    }

    override fun personalPage(after: Long, limit: Int): ByteArray {
        calls++
        return BridgeCodec.encodePersonal(personal.tailMap(after + 1).values.take(limit))
    }

    override fun personalAccounts(): ByteArray {
        calls++
        return BridgeCodec.encodeAccounts(accounts)
    }

    /** The account of each insertPersonal call, as (type, name); (null, null): device-local. */
    val insertedInto = mutableListOf<Pair<String?, String?>>()

    override fun insertPersonal(contacts: ByteArray) {
        calls++
        val insert = BridgeCodec.decodePersonalInsert(contacts)
        insertedInto.add(insert.accountType to insert.accountName)
        for (c in insert.contacts) {
            val raw = nextRaw++
            personal[raw] = PersonalRecord(raw, insert.accountType, insert.accountName, c.starred, c.rows, c.groupTitles, c.photo)
        }
    }

    /** A personal contact as the provider holds it: TYPE_MOBILE is 2. */
    fun addPersonal(name: String, phone: String, account: Pair<String, String>? = null, starred: Boolean = false, groups: List<String> = emptyList()) {
        val rows = listOf(
            BridgeRow("vnd.android.cursor.item/name", listOf(name, name, null, null, null, null, null, null, null, null)),
            BridgeRow("vnd.android.cursor.item/phone_v2", listOf(phone, "2", null, null, null, null, null, null, null, null)),
        )
        val raw = nextRaw++
        personal[raw] = PersonalRecord(raw, account?.first, account?.second, starred, rows, groups, null)
    }
}

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JniStoreTest {
    private lateinit var server: ReferenceServer

    @BeforeAll
    fun start() {
        server = ReferenceServer(users = 1500)
    }

    @AfterAll
    fun stop() = server.close()

    private fun config() = AgentConfig(
        stateDir = Files.createTempDirectory("jni-agent").toString(),
        accountType = "app.contactsagent.business",
        pageSize = 200,
        commandPollSeconds = 1800,
    )

    private fun <T> withAgent(store: MemoryStore, block: (Agent) -> T): T {
        val handle = JniBridge.register(store)
        try {
            return Agent.withJniStore(config(), handle).use(block)
        } finally {
            JniBridge.release(handle)
        }
    }

    @Test
    fun `a sync through JNI fills the Kotlin store with exactly the server's set`() {
        val code = server.device(listOf("harvey", "sales"), "jni-sync")
        val store = MemoryStore()
        withAgent(store) { agent ->
            agent.enroll(server.url, code, "jni phone")
            val run = agent.runDue()
            assertEquals(null, run.syncError)
            val expected = server.members("harvey") + server.members("sales")
            assertEquals(expected, store.managed.keys)
            assertTrue(store.managed.values.all { it.hash.isNotEmpty() && it.state == "clean" })
            // Batched: a few calls per page, not one per contact.
            assertTrue(store.calls < expected.size / 10, "${store.calls} bridge calls for ${expected.size} contacts")
            // Read back through the bridge.
            assertEquals(expected, agent.managedContacts(0, 100_000).map { it.id }.toSet())
            assertEquals(expected.size.toLong(), agent.status().contactsOnPhone)
        }
    }

    @Test
    fun `a Kotlin store that throws mid-sync fails the sync cleanly and the next one converges`() {
        val code = server.device(listOf("engineering", "support", "finance"), "jni-fail")
        val store = MemoryStore().apply { failOnBatch = 2 }
        withAgent(store) { agent ->
            agent.enroll(server.url, code, "jni phone")
            val failed = agent.runDue()
            val failure = requireNotNull(failed.syncError) { "the sync should have failed" }
            val error = failure.message
            assertEquals(FailureKind.STORE, failure.kind)
            assertEquals(false, failure.needsAction)
            assertTrue(error.contains("threw java.lang.IllegalStateException"), error)
            assertTrue(!error.contains("content provider died"), "exception messages are not forwarded: $error")
            assertTrue(agent.status().lastSyncResult!!.startsWith("failed"))
            // The JVM is fine and so is the agent: the next sync converges.
            store.failOnBatch = -1
            agent.syncNow()
            val expected = server.members("engineering") + server.members("support") + server.members("finance")
            assertEquals(expected, store.managed.keys)
        }
    }

    @Test
    fun `a missing permission is a typed failure that needs the user, not a backoff loop`() {
        val code = server.device(listOf("mike"), "jni-permission")
        val store = MemoryStore().apply { permissionDenied = true }
        withAgent(store) { agent ->
            agent.enroll(server.url, code, "jni phone")
            val failure = requireNotNull(agent.runDue().syncError) { "the sync should have failed" }
            assertEquals(FailureKind.PERMISSION_DENIED, failure.kind)
            assertTrue(failure.needsAction)
            assertTrue(failure.message.contains("grant the contacts permission"), failure.message)
            assertEquals(FailureKind.PERMISSION_DENIED, agent.status().needsAction?.kind)
            assertEquals(0, agent.status().consecutiveFailures)
            assertThrows<AgentException.PermissionDenied> { agent.syncNow() }
            // Granted: the very next run syncs, and the notice goes.
            store.permissionDenied = false
            val run = agent.runDue()
            assertEquals(null, run.syncError)
            assertEquals(server.members("mike"), store.managed.keys)
            assertEquals(null, agent.status().needsAction)
        }
    }

    @Test
    fun `hostile answers from the Kotlin side become exceptions, never a crash`() {
        val code = server.device(listOf("mike"), "jni-hostile")
        // Garbage where the index should be, then an unknown entry state, then a huge offset.
        val garbage = object : ContactStoreBridge by MemoryStore() {
            var answer = "not json at all \u0000".toByteArray()
            override fun managedIndex(): ByteArray = answer
        }
        val handle = JniBridge.register(garbage)
        try {
            Agent.withJniStore(config(), handle).use { agent ->
                agent.enroll(server.url, code, "jni phone")
                val e = assertThrows<AgentException.Store> { agent.syncNow() }
                assertTrue(e.message!!.contains("not readable"), e.message)
                // A valid index with an unknown state flag, then one of another format version,
                // then one whose record count disagrees with its bytes.
                val valid = BridgeCodec.encodeIndex(listOf(IndexRecord(1, "1", "h", null, dirty = false, deleted = false)))
                garbage.answer = valid.copyOf().also { it[it.size - 1] = 0x40 }
                val e2 = assertThrows<AgentException.Store> { agent.syncNow() }
                assertTrue(e2.message!!.contains("unknown state flag"), e2.message)
                garbage.answer = valid.copyOf().also { it[3] = 9 }
                val e3 = assertThrows<AgentException.Store> { agent.syncNow() }
                assertTrue(e3.message!!.contains("different releases"), e3.message)
                garbage.answer = valid.copyOf().also { it[8] = 2 }
                assertThrows<AgentException.Store> { agent.syncNow() }
                garbage.answer = valid + byteArrayOf(0)
                val e4 = assertThrows<AgentException.Store> { agent.syncNow() }
                assertTrue(e4.message!!.contains("after its last record"), e4.message)
                assertEquals(0, agent.managedContacts(Int.MAX_VALUE, Int.MAX_VALUE).size)
                assertTrue(agent.status().consecutiveFailures >= 2)
            }
        } finally {
            JniBridge.release(handle)
        }
        // A handle nobody registered.
        val e = assertThrows<AgentException.Store> { Agent.withJniStore(config(), 987_654_321L) }
        assertTrue(e.message!!.contains("no store registered"), e.message)
    }

    @Test
    fun `backup and restore go through the bridge's personal pages`() {
        val code = server.device(listOf("mike"), "jni-backup")
        val store = MemoryStore()
        val google = "com.google" to "anna@example.invalid"
        val gone = "com.example.gone" to "old"
        store.accounts += google
        repeat(30) { store.addPersonal("Friend $it", "+48 700 100 ${100 + it}") }
        store.addPersonal("Mum", "+48 700 200 001", account = google, starred = true, groups = listOf("Family", "Favourites"))
        store.addPersonal("Old colleague", "+48 700 200 002", account = gone)
        withAgent(store) { agent ->
            agent.enroll(server.url, code, "jni phone")
            val backup = agent.backupNow()
            assertEquals(32L, backup.contactCount)
            store.personal.clear()
            val restored = agent.restore(null, null)
            assertEquals(32L, restored.inArchive)
            assertEquals(32L, restored.restored)
            // What the result says of accounts: Mum back into the Google account the phone
            // has, the old colleague's account gone from it; no photo dropped, nothing skipped.
            assertEquals(1L, restored.intoSourceAccount)
            assertEquals(1L, restored.sourceAccountMissing)
            assertEquals(0L, restored.photosDropped)
            assertEquals("", restored.skippedReasons)
            assertEquals(32, store.personal.size)
            // Each contact went back into its own account when the phone has it (listed by
            // personalAccounts), else device-local; starred and groups came with it.
            val mum = store.personal.values.single { r -> r.rows.any { it.data[0] == "Mum" } }
            assertEquals(google, mum.accountType to mum.accountName)
            assertTrue(mum.starred)
            assertEquals(listOf("Family", "Favourites"), mum.groupTitles)
            val colleague = store.personal.values.single { r -> r.rows.any { it.data[0] == "Old colleague" } }
            assertEquals(null to null, colleague.accountType to colleague.accountName)
            assertTrue(google in store.insertedInto && (null to null) in store.insertedInto, "${store.insertedInto}")
            // The TYPE integer went out and came back as the provider's (Phone.TYPE_MOBILE).
            assertEquals("2", mum.rows.single { it.mimetype == "vnd.android.cursor.item/phone_v2" }.data[1])
            assertEquals(0L, agent.restore(null, null).restored)
            // Business contacts never went into the personal side.
            assertTrue(store.managed.keys.none { id -> store.personal.values.any { r -> r.rows.any { id in it.data } } })
        }
    }
}
