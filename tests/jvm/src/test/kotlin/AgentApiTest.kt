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
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/** The reference server as a child process, plus the admin calls the tests need. */
class ReferenceServer(users: Int) : AutoCloseable {
    private val dir: File = Files.createTempDirectory("contacts-server").toFile()
    private val token = "jvm-test-admin-token-0123456789"
    // HTTP/1.1: the JDK client otherwise offers an h2c upgrade, which tiny_http leaves hanging.
    private val http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
    private val process: Process
    val url: String

    init {
        val bin = File(System.getProperty("contacts.lib.dir"), "contacts-agent-server")
        check(bin.canExecute()) { "build the server first: $bin" }
        val pb = ProcessBuilder(
            bin.path, "--db", File(dir, "server.db").path, "--bind", "127.0.0.1:0",
            "--seed-users", users.toString(), "--workers", "2",
        )
        pb.environment()["CONTACTS_ADMIN_TOKEN"] = token
        pb.environment()["RUST_LOG"] = "warn"
        pb.redirectErrorStream(true)
        process = pb.start()
        val reader = process.inputStream.bufferedReader()
        var found: String? = null
        while (found == null) {
            val line = reader.readLine() ?: error("the server exited before listening")
            found = Regex("listening on (http://\\S+)").find(line)?.groupValues?.get(1)
        }
        url = found
        Thread { reader.forEachLine { } }.apply { isDaemon = true }.start()
    }

    fun admin(method: String, path: String, body: String? = null): String {
        val req = HttpRequest.newBuilder(URI.create(url + path))
            .header("Authorization", "Bearer $token")
            .header("Content-Type", "application/json")
            .method(method, if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body))
            .build()
        val resp = http.send(req, HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() in 200..299) { "$method $path -> ${resp.statusCode()} ${resp.body()}" }
        return resp.body()
    }

    fun members(group: String): Set<String> =
        Regex("\"([^\"]+)\"").findAll(admin("GET", "/v1/admin/groups/$group/members")).map { it.groupValues[1] }.toSet()

    /** A device on a policy "none + the given groups"; returns its enrollment code. */
    fun device(groups: List<String>, policyId: String): String {
        val groupsJson = groups.joinToString(",") { "\"$it\"" }
        admin("POST", "/v1/admin/policies", """{"id":"$policyId","name":"$policyId","basic_type":"none","additional_groups":[$groupsJson],"sync_interval":"daily"}""")
        val created = admin("POST", "/v1/admin/devices", """{"name":"jvm","policy_id":"$policyId"}""")
        return Regex("\"enrollment_code\":\"([0-9a-f]+)\"").find(created)!!.groupValues[1]
    }

    override fun close() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
        dir.deleteRecursively()
    }
}

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
        pageSize = 100u,
        commandPollSeconds = 1800u,
    )

    @Test
    fun `a full sync from Kotlin puts exactly the policy's contacts on the phone`() {
        val code = server.device(listOf("harvey", "mike"), "kotlin-sync")
        Agent(config()).use { agent ->
            val deviceId = agent.enroll(server.url, code, "JVM phone")
            assertTrue(deviceId.startsWith("d-"))
            val run = agent.runDue()
            assertNull(run.syncError)
            val sync = requireNotNull(run.sync) { "no sync ran" }
            val expected = server.members("harvey") + server.members("mike")
            assertEquals(expected.size.toULong(), sync.contactsOnPhone)
            assertEquals("policy applied", sync.reason)

            val status = agent.status()
            assertEquals(deviceId, status.deviceId)
            assertEquals("none", status.syncType)
            assertEquals(listOf("harvey", "mike"), status.additionalGroups)
            assertEquals("daily", status.syncInterval)
            assertEquals("ok", status.lastSyncResult)
            assertEquals(expected.size.toULong(), status.contactsOnPhone)
            val next = requireNotNull(status.nextSyncMs) { "no next sync" }
            assertTrue(next > System.currentTimeMillis() + 12 * 3600 * 1000L)
            assertTrue(agent.nextWakeUpMs() <= next)

            val listed = agent.managedContacts(0u, 10_000u)
            assertEquals(expected, listed.map { it.id }.toSet())
            assertTrue(listed.all { it.displayName.isNotBlank() && it.phones.isNotEmpty() })

            // Nothing due any more; a second explicit sync changes nothing.
            assertNull(agent.runDue().sync)
            val again = agent.syncNow()
            assertEquals(0uL, again.inserted + again.updated + again.deleted)
        }
    }

    @Test
    fun `errors arrive as typed exceptions and the JVM carries on`() {
        Agent(config()).use { agent ->
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
            Agent(config().copy(accountType = " "))
        }
    }

    @Test
    fun `backup and restore from Kotlin`() {
        val code = server.device(listOf("mike"), "kotlin-backup")
        Agent(config()).use { agent ->
            agent.enroll(server.url, code, "JVM phone")
            val backup = agent.backupNow()
            assertEquals(0uL, backup.contactCount) // a fresh phone has no personal contacts
            val restored = agent.restore(null)
            assertEquals(backup.backupId, restored.backupId)
            assertEquals(0uL, restored.restored)
        }
    }
}
