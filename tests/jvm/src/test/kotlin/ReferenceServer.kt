// The reference server as a child process, shared by the JVM tests and the Android
// shell's Robolectric scenarios (tests/android adds this file to its test sources).
package app.contactsagent.sdk

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
    // HTTP/1.1: the reference server speaks nothing else (no h2c upgrade to offer).
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

    fun admin(method: String, path: String, body: String? = null): String =
        send(method, path, "application/json", if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body))

    /** An admin call with a binary body (a photo upload). */
    fun adminBytes(method: String, path: String, body: ByteArray): String =
        send(method, path, "application/octet-stream", HttpRequest.BodyPublishers.ofByteArray(body))

    private fun send(method: String, path: String, type: String, body: HttpRequest.BodyPublisher): String {
        val req = HttpRequest.newBuilder(URI.create(url + path))
            .header("Authorization", "Bearer $token")
            .header("Content-Type", type)
            .method(method, body)
            .build()
        val resp = http.send(req, HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() in 200..299) { "$method $path -> ${resp.statusCode()} ${resp.body()}" }
        return resp.body()
    }

    fun members(group: String): Set<String> =
        Regex("\"([^\"]+)\"").findAll(admin("GET", "/v1/admin/groups/$group/members")).map { it.groupValues[1] }.toSet()

    private val devicesByCode = HashMap<String, String>()

    /** A device on a policy "none + the given groups"; returns its enrollment code. */
    fun device(groups: List<String>, policyId: String): String {
        val groupsJson = groups.joinToString(",") { "\"$it\"" }
        admin("POST", "/v1/admin/policies", """{"id":"$policyId","name":"$policyId","basic_type":"none","additional_groups":[$groupsJson],"sync_interval":"daily"}""")
        val created = admin("POST", "/v1/admin/devices", """{"name":"jvm","policy_id":"$policyId"}""")
        val code = Regex("\"enrollment_code\":\"([0-9a-f]+)\"").find(created)!!.groupValues[1]
        devicesByCode[code] = Regex("\"id\":\"(d-[0-9a-f]+)\"").find(created)!!.groupValues[1]
        return code
    }

    /** Revokes the token of the device enrolled with [code] (a lost phone: the token dies at once). */
    fun revoke(code: String) {
        admin("POST", "/v1/admin/devices/${devicesByCode.getValue(code)}/revoke", "{}")
    }

    /** The admin's "Retire" for the device enrolled with [code]: a command it carries out. */
    fun retire(code: String) {
        admin("POST", "/v1/admin/devices/${devicesByCode.getValue(code)}/retire", "{}")
    }

    /** The device's state as the admin API and console show it ("enrolled", "retired", …). */
    fun deviceState(code: String): String {
        val d = admin("GET", "/v1/admin/devices/${devicesByCode.getValue(code)}")
        return Regex("\"state\":\"([a-z_]+)\"").find(d)!!.groupValues[1]
    }

    override fun close() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
        dir.deleteRecursively()
    }
}
