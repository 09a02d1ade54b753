package app.contactsagent.sdk

import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.file.Files

class EmbeddingExampleTest {
    @Test
    fun `the README example runs on a fresh, unenrolled agent`() {
        val dir = Files.createTempDirectory("example").toString()
        val next = runContactsAgent(dir)
        // Not enrolled: nothing ran, and the next wake-up is now (it wants an enrollment).
        assertTrue(next <= System.currentTimeMillis() + 1000)
    }
}
