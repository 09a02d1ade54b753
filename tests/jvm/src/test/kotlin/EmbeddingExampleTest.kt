package app.contactsagent.sdk

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.file.Files

class EmbeddingExampleTest {
    @Test
    fun `the README example runs on a fresh, unenrolled agent`() {
        val config = AgentConfig(
            stateDir = Files.createTempDirectory("example").toString(),
            accountType = "com.example.company.contacts",
        )
        val next = ContactsAgent.forHost(config).use { agent -> runBlocking { runContactsAgent(agent) } }
        // Not enrolled: nothing ran, and the next wake-up is now (it wants an enrollment).
        assertTrue(next <= System.currentTimeMillis() + 1000)
    }
}
