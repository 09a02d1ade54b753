// The README's embedding example, compiled (and run) by the test command so it cannot rot.
package app.contactsagent.sdk

/** What a host app's background job does: run whatever is due, then say when to come back. */
fun runContactsAgent(stateDir: String): Long {
    val config = AgentConfig(
        stateDir = stateDir,
        accountType = "com.example.company.contacts",
        pageSize = 500u,
        commandPollSeconds = 1800u,
    )
    Agent(config).use { agent ->
        try {
            val result = agent.runDue()
            result.syncError?.let { println("sync failed, will retry: $it") }
        } catch (e: AgentException.NotEnrolled) {
            println("enroll first: ${e.message}")
        }
        return agent.nextWakeUpMs()
    }
}
