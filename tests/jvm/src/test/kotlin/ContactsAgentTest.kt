// The SDK's coroutine API (ContactsAgent) against the real library and the reference server:
// suspend calls, progress, cancellation turned into interrupt(), backups listed and restored
// into an account, unenroll seen from the console, and the misuse an app can make of it.
package app.contactsagent.sdk

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ContactsAgentTest {
    private lateinit var server: ReferenceServer

    @BeforeAll
    fun start() {
        server = ReferenceServer(users = 800)
    }

    @AfterAll
    fun stop() = server.close()

    private fun config() = AgentConfig(
        stateDir = Files.createTempDirectory("contacts-agent").toString(),
        accountType = "app.contactsagent.business",
        pageSize = 40,
    )

    @Test
    fun `the suspend API syncs with progress, restores into an account and unenrolls so the console shows it retired`() = runBlocking {
        val code = server.device(listOf("harvey", "sales"), "kt-suspend")
        val expected = server.members("harvey") + server.members("sales")
        val store = MemoryStore()
        repeat(5) { store.addPersonal("Friend $it", "+48 700 200 ${100 + it}") }
        var unenrolledHook = false
        ContactsAgent.withStore(config(), store, afterUnenroll = { unenrolledHook = true }).use { agent ->
            val seen = Collections.synchronizedList(mutableListOf<Progress>())
            val collector = launch(start = CoroutineStart.UNDISPATCHED) { agent.progress.collect { seen.add(it) } }

            agent.enroll(server.url, code, "coroutine phone")
            val sync = agent.syncNow()
            assertEquals(expected.size.toLong(), sync.contactsOnPhone)
            assertEquals(RunReason.MANUAL, sync.reason)
            assertEquals(expected, store.managed.keys)
            val syncDone = seen.filter { it.phase == ProgressPhase.SYNC }.map { it.done }
            assertTrue(syncDone.size >= expected.size / 40, "one report per page: $syncDone")
            assertEquals(syncDone.sorted(), syncDone, "counts only go up")
            assertEquals(expected.size.toLong(), syncDone.last())

            val backup = agent.backupNow()
            assertEquals(5L, backup.contactCount)
            val listed = agent.listBackups()
            assertEquals(backup.backupId, listed.first().backupId)
            assertEquals(5L, listed.first().contactCount)
            val madeAt = requireNotNull(listed.first().createdAtMs) { "the server's time should be readable" }
            assertTrue(kotlin.math.abs(madeAt - System.currentTimeMillis()) < 10 * 60_000, "$madeAt")

            store.personal.clear()
            seen.clear()
            // An account the phone does not have is refused before anything is written.
            assertThrows<AgentException.InvalidArgument> { runBlocking { agent.restore(backup.backupId, "friend@example.com") } }
            assertTrue(store.personal.isEmpty(), "nothing restored into an invented account")
            // Named by its name, the account restores with its real type and name.
            store.accounts.add("com.google" to "friend@example.com")
            val restored = agent.restore(backup.backupId, "friend@example.com")
            assertEquals(5L, restored.restored)
            assertEquals(listOf<Pair<String?, String?>>("com.google" to "friend@example.com"), store.insertedInto.distinct())
            val restoring = seen.filter { it.phase == ProgressPhase.RESTORE }
            assertEquals(5L to 5L, restoring.last().done to restoring.last().total)

            seen.clear()
            val gone = agent.unenroll()
            assertEquals(expected.size.toLong(), gone.contactsRemoved)
            assertTrue(gone.serverNotified)
            assertTrue(store.managed.isEmpty(), "business contacts removed")
            assertEquals(5, store.personal.size, "personal contacts untouched")
            assertTrue(unenrolledHook, "the shell's clean-up ran")
            assertEquals("retired", server.deviceState(code))
            assertEquals(expected.size.toLong(), seen.last { it.phase == ProgressPhase.UNENROLL }.done)
            val after = assertThrows<AgentException.NotEnrolled> { runBlocking { agent.syncNow() } }
            assertTrue(after.message!!.contains("enroll it with the code"), after.message)
            assertTrue(!after.message!!.contains("contacts-agent enroll"), "speaks to the app, not the CLI: ${after.message}")
            assertEquals(null, agent.status().deviceId)
            collector.cancel()
        }
    }

    @Test
    fun `cancelling the coroutine interrupts the sync mid-way and the next sync converges`() = runBlocking {
        val code = server.device(listOf("engineering", "support"), "kt-cancel")
        val expected = server.members("engineering") + server.members("support")
        val inner = MemoryStore()
        val secondBatch = CountDownLatch(1)
        var batches = 0
        val slow = object : ContactStoreBridge by inner {
            override fun applyBatch(ops: ByteArray) {
                inner.applyBatch(ops)
                if (++batches == 2) {
                    secondBatch.countDown()
                    Thread.sleep(300) // the cancel lands while the sync is inside
                }
            }
        }
        ContactsAgent.withStore(config(), slow).use { agent ->
            agent.enroll(server.url, code, "cancel phone")
            val job = launch { agent.syncNow() }
            withContext(Dispatchers.IO) { assertTrue(secondBatch.await(60, TimeUnit.SECONDS)) }
            job.cancelAndJoin() // returns once the sync has stopped, as a cancellation (not a failure)
            assertTrue(job.isCancelled)
            val partial = inner.managed.size
            assertTrue(partial in 1 until expected.size, "stopped part-way: $partial of ${expected.size}")
            assertEquals(RunOutcome.FAILED, agent.status().lastSyncOutcome)

            val next = agent.syncNow()
            assertEquals(expected, inner.managed.keys)
            assertEquals(expected.size.toLong(), next.contactsOnPhone)
        }
    }

    @Test
    fun `a progress listener that throws is ignored and the sync goes on`() {
        val code = server.device(listOf("engineering", "support"), "kt-throwing-listener")
        var calls = 0
        Agent.forHost(config()).use { agent ->
            agent.setProgressListener(object : ProgressListener {
                override fun onProgress(progress: Progress) {
                    calls++
                    throw IllegalStateException("listener bug")
                }
            })
            agent.enroll(server.url, code, "listener phone")
            val sync = agent.syncNow()
            assertEquals((server.members("engineering") + server.members("support")).size.toLong(), sync.contactsOnPhone)
            assertTrue(calls >= 2, "called on every page despite throwing: $calls")
        }
    }

    @Test
    fun `misuse gets clear exceptions - before enroll, on the main thread, after close`() = runBlocking {
        val agent = ContactsAgent.forHost(config())
        assertThrows<AgentException.NotEnrolled> { runBlocking { agent.listBackups() } }
        assertThrows<AgentException.NotEnrolled> { runBlocking { agent.unenroll() } }
        assertThrows<AgentException.InvalidArgument> { runBlocking { agent.managedContacts(-1, 10) } }
        agent.close()
        val closed = assertThrows<IllegalStateException> { runBlocking { agent.status() } }
        assertTrue(closed.message!!.contains("closed"), closed.message)

        ContactsAgent.withStore(config(), MemoryStore(), isMainThread = { true }).use { onMain ->
            val e = assertThrows<IllegalStateException> { onMain.blocking }
            assertTrue(e.message!!.contains("main thread"), e.message)
            // The suspend functions are main-safe: they move to the IO dispatcher.
            assertEquals(null, onMain.status().deviceId)
        }
        assertThrows<AgentException.InvalidArgument> { Agent.forHost(config().copy(pageSize = -1)) }
        Unit
    }
}
