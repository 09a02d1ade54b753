// A phone whose APK lacks the native library (or carries one of another version) must fail
// at the first agent with a clear exception, not crash later: checked in a child JVM that
// cannot find libcontacts_agent.
package app.contactsagent.sdk

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit

class IncompatibleLibraryTest {
    @Test
    fun `a missing native library fails the first agent with IncompatibleLibraryException`() {
        val empty = Files.createTempDirectory("no-native-library").toString()
        val java = File(System.getProperty("java.home"), "bin/java").path
        val child = ProcessBuilder(
            java, "-cp", System.getProperty("java.class.path"),
            "-Djna.library.path=$empty", "-Djava.library.path=$empty", "-Djna.nosys=true",
            IncompatibleLibraryTest::class.java.name, empty,
        ).redirectErrorStream(true).start()
        val out = child.inputStream.bufferedReader().readText()
        assertTrue(child.waitFor(60, TimeUnit.SECONDS))
        assertEquals(3, child.exitValue(), out)
        assertTrue(out.contains("does not match the SDK's Kotlin bindings"), out)
    }

    companion object {
        /** The child: make an agent; exit 3 with the message on the exception we promise. */
        @JvmStatic
        fun main(args: Array<String>) {
            try {
                ContactsAgent.forHost(AgentConfig(stateDir = args[0], accountType = "app.contactsagent.business")).close()
                println("an agent was made without its library")
                kotlin.system.exitProcess(1)
            } catch (e: IncompatibleLibraryException) {
                println(e.message)
                kotlin.system.exitProcess(3)
            }
        }
    }
}
