// The Rust core reading and writing a Kotlin ContactStoreBridge through JNI: a sync whose
// store lives in the JVM, a store that throws mid-sync, and backup/restore through the bridge.
package app.contactsagent.sdk

import org.json.JSONArray
import org.json.JSONObject
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
    data class Managed(val rawId: Long, val hash: String, val photoHash: String?, val rows: JSONArray, val state: String, val groups: List<String> = emptyList())

    /** Contact groups of the account: _ID → (SOURCE_ID, TITLE). */
    val groups = TreeMap<Long, Pair<String, String>>()
    private var nextGroup = 1L

    val managed = TreeMap<String, Managed>()
    val personal = TreeMap<Long, JSONObject>()
    private var nextRaw = 1L
    var batches = 0
    var failOnBatch = -1
    /** Every call throws what the ContactsProvider adapter throws without the permission. */
    var permissionDenied = false
    var calls = 0

    override fun managedIndex(): ByteArray {
        calls++
        if (permissionDenied) throw ContactStorePermissionException()
        val out = JSONArray()
        for ((id, m) in managed) {
            out.put(JSONObject().put("raw_id", m.rawId).put("id", id).put("hash", m.hash).put("photo_hash", m.photoHash ?: JSONObject.NULL).put("state", m.state))
        }
        return out.toString().toByteArray()
    }

    override fun applyBatch(ops: ByteArray) {
        calls++
        if (permissionDenied) throw ContactStorePermissionException()
        batches++
        if (batches == failOnBatch) throw IllegalStateException("content provider died")
        keys = null
        // All or nothing, like applyBatch: check every op first, then apply.
        val arr = JSONArray(String(ops))
        val list = (0 until arr.length()).map { arr.getJSONObject(it) }
        val seen = HashSet<String>()
        val groupOps = setOf("insert_group", "rename_group", "delete_group")
        for (op in list) {
            if (op.getString("op") == "delete_raw" || op.getString("op") in groupOps) continue
            val id = op.getString("id")
            val exists = if (id in seen) true else managed.containsKey(id)
            when (op.getString("op")) {
                "insert" -> check(!exists || list.any { it.getString("op") == "delete" && it.getString("id") == id }) { "insert of an existing contact" }
                "update" -> check(exists) { "update of a missing contact" }
                "delete" -> {}
                else -> error("unknown op")
            }
            seen.add(id)
        }
        for (op in list) {
            when (op.getString("op")) {
                "insert_group" -> { groups[nextGroup++] = op.getString("source_id") to op.getString("title"); continue }
                "rename_group" -> { groups.computeIfPresent(op.getLong("group_id")) { _, g -> g.first to op.getString("title") }; continue }
                "delete_group" -> { groups.remove(op.getLong("group_id")); continue }
            }
            if (op.getString("op") == "delete_raw") {
                val raw = op.getLong("raw_id")
                managed.entries.removeIf { it.value.rawId == raw }
                continue
            }
            val id = op.getString("id")
            if (op.getString("op") == "delete") {
                managed.remove(id)
                continue
            }
            val photo = when (op.getString("photo_action")) {
                "set" -> op.getString("photo_hash")
                "clear" -> null
                else -> managed[id]?.photoHash
            }
            val memberOf = op.optJSONArray("group_source_ids")?.let { a -> (0 until a.length()).map { a.getString(it) } }.orEmpty()
            managed[id] = Managed(managed[id]?.rawId ?: nextRaw++, op.getString("hash"), photo, op.getJSONArray("rows"), "clean", memberOf)
        }
    }

    private var keys: List<String>? = null

    override fun managedGroups(): ByteArray {
        calls++
        if (permissionDenied) throw ContactStorePermissionException()
        val out = JSONArray()
        for ((id, g) in groups) {
            val members = managed.values.count { g.first in it.groups }
            out.put(JSONObject().put("group_id", id).put("source_id", g.first).put("title", g.second).put("deleted", false).put("dirty", false).put("members", members))
        }
        return out.toString().toByteArray()
    }

    override fun managedContacts(offset: Int, limit: Int): ByteArray {
        calls++
        val out = JSONArray()
        val ids = keys ?: managed.keys.toList().also { keys = it }
        ids.subList(offset.coerceAtMost(ids.size), (offset.toLong() + limit).coerceAtMost(ids.size.toLong()).toInt()).forEach { id ->
            val m = managed.getValue(id)
            out.put(JSONObject().put("id", id).put("hash", m.hash).put("photo_hash", m.photoHash ?: JSONObject.NULL).put("rows", m.rows))
        }
        return out.toString().toByteArray()
    }

    override fun personalPage(after: Long, limit: Int): ByteArray {
        calls++
        val out = JSONArray()
        personal.tailMap(after + 1).values.take(limit).forEach { out.put(it) }
        return out.toString().toByteArray()
    }

    /** The account of each insertPersonal call (null: device-local). */
    val insertedInto = mutableListOf<String?>()

    override fun insertPersonal(account: String?, contacts: ByteArray) {
        calls++
        insertedInto.add(account)
        val arr = JSONArray(String(contacts))
        for (i in 0 until arr.length()) {
            val c = arr.getJSONObject(i)
            val raw = nextRaw++
            personal[raw] = c.put("raw_id", raw)
        }
    }

    fun addPersonal(name: String, phone: String) {
        val data = JSONArray(listOf(name, name, "", "", "", "", null, null, null, null).map { it ?: JSONObject.NULL })
        val phoneRow = JSONArray(listOf(phone, "mobile", null, null, null, null, null, null, null, null).map { it ?: JSONObject.NULL })
        val rows = JSONArray()
            .put(JSONObject().put("mimetype", "vnd.android.cursor.item/name").put("data", data))
            .put(JSONObject().put("mimetype", "vnd.android.cursor.item/phone_v2").put("data", phoneRow))
        val raw = nextRaw++
        personal[raw] = JSONObject().put("raw_id", raw).put("rows", rows).put("photo", JSONObject.NULL)
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
                garbage.answer = """[{"raw_id":1,"id":"1","hash":"h","photo_hash":null,"state":"exploded"}]""".toByteArray()
                val e2 = assertThrows<AgentException.Store> { agent.syncNow() }
                assertTrue(e2.message!!.contains("unknown entry state"), e2.message)
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
        repeat(30) { store.addPersonal("Friend $it", "+48 700 100 ${100 + it}") }
        withAgent(store) { agent ->
            agent.enroll(server.url, code, "jni phone")
            val backup = agent.backupNow()
            assertEquals(30L, backup.contactCount)
            store.personal.clear()
            val restored = agent.restore(null, null)
            assertEquals(30L, restored.restored)
            assertEquals(30, store.personal.size)
            assertEquals(0L, agent.restore(null, null).restored)
            // Business contacts never went into the personal side.
            assertTrue(store.managed.keys.none { id -> store.personal.values.any { it.toString().contains(id) } })
        }
    }
}
