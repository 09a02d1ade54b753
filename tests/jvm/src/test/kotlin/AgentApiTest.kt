// The generated Kotlin API driving the real library (loaded through JNA) against the
// reference server on loopback: a full sync, status and the managed-contact list from
// Kotlin, and errors arriving as the sealed AgentException hierarchy.
package app.contactsagent.sdk

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AgentApiTest {
    private lateinit var server: ReferenceServer

    @BeforeAll
    fun start() {
        server = ReferenceServer(users = 400)
    }

    @AfterAll
    fun stop() = server.close()

    private fun config() = AgentConfig(
        stateDir = Files.createTempDirectory("agent").toString(),
        accountType = "app.contactsagent.business",
        pageSize = 100,
        commandPollSeconds = 1800,
    )

    @Test
    fun `a full sync from Kotlin puts exactly the policy's contacts on the phone`() {
        val code = server.device(listOf("harvey", "mike"), "kotlin-sync")
        Agent.forHost(config()).use { agent ->
            val deviceId = agent.enroll(server.url, code, "JVM phone")
            assertTrue(deviceId.startsWith("d-"))
            val run = agent.runDue()
            assertNull(run.syncError)
            val sync = requireNotNull(run.sync) { "no sync ran" }
            val expected = server.members("harvey") + server.members("mike")
            assertEquals(expected.size.toLong(), sync.contactsOnPhone)
            assertEquals(RunReason.POLICY_APPLIED, sync.reason)

            val status = agent.status()
            assertEquals(deviceId, status.deviceId)
            assertEquals(SyncType.NONE, status.syncType)
            assertEquals(listOf("harvey", "mike"), status.additionalGroups)
            assertEquals(SyncInterval.DAILY, status.syncInterval)
            assertEquals("ok", status.lastSyncResult)
            assertEquals(RunOutcome.SUCCEEDED, status.lastSyncOutcome)
            assertEquals(expected.size.toLong(), status.contactsOnPhone)
            val next = requireNotNull(status.nextSyncMs) { "no next sync" }
            assertTrue(next > System.currentTimeMillis() + 12 * 3600 * 1000L)
            assertTrue(agent.nextWakeUpMs() <= next)

            val listed = agent.managedContacts(0, 10_000)
            assertEquals(expected, listed.map { it.id }.toSet())
            assertTrue(listed.all { it.displayName.isNotBlank() && it.phones.isNotEmpty() })

            // Nothing due any more; a second explicit sync changes nothing.
            assertNull(agent.runDue().sync)
            val again = agent.syncNow()
            assertEquals(0L, again.inserted + again.updated + again.deleted)
        }
    }

    @Test
    fun `a revoked device is AgentException Unauthorized and status says to enroll again`() {
        val code = server.device(listOf("mike"), "kotlin-revoked")
        Agent.forHost(config()).use { agent ->
            agent.enroll(server.url, code, "JVM phone")
            assertNull(agent.runDue().syncError)
            server.revoke(code)
            val e = assertThrows<AgentException.Unauthorized> { agent.runDue() }
            assertTrue(e.message!!.contains("enroll again"), e.message)
            assertEquals(0L, agent.status().contactsOnPhone, "the company's contacts left the phone")
            val notice = requireNotNull(agent.status().needsAction) { "status should say what to do" }
            assertEquals(FailureKind.UNAUTHORIZED, notice.kind)
            assertTrue(notice.needsAction)
            assertEquals(0, agent.status().consecutiveFailures, "no backoff loop")
        }
    }

    @Test
    fun `errors arrive as typed exceptions and the JVM carries on`() {
        Agent.forHost(config()).use { agent ->
            val notEnrolled = assertThrows<AgentException.NotEnrolled> { agent.syncNow() }
            assertTrue(notEnrolled.message!!.contains("enroll"), notEnrolled.message)
            val insecure = assertThrows<AgentException.InvalidArgument> {
                agent.enroll("http://mdm.example.com", "x", "phone")
            }
            assertTrue(insecure.message!!.contains("https"), insecure.message)
            val badCode = assertThrows<AgentException.Server> { agent.enroll(server.url, "0000", "phone") }
            assertTrue(badCode.message!!.contains("already used"), badCode.message)
            val down = assertThrows<AgentException.Network> { agent.enroll("http://127.0.0.1:9", "x", "phone") }
            assertTrue(down.message!!.contains("could not reach"), down.message)
            // Still usable after all that.
            assertNull(agent.status().deviceId)
        }
        assertThrows<AgentException.InvalidArgument> {
            Agent.forHost(config().copy(accountType = " "))
        }
    }

    @Test
    fun `backup and restore from Kotlin`() {
        val code = server.device(listOf("mike"), "kotlin-backup")
        Agent.forHost(config()).use { agent ->
            agent.enroll(server.url, code, "JVM phone")
            val backup = agent.backupNow()
            assertEquals(0L, backup.contactCount) // a fresh phone has no personal contacts
            val restored = agent.restore(null, null)
            assertEquals(backup.backupId, restored.backupId)
            assertEquals(0L, restored.restored)
        }
    }
}
