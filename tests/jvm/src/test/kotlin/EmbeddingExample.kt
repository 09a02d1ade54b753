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
            result.syncError?.let { failure ->
                when {
                    failure.kind == FailureKind.PERMISSION_DENIED -> println("ask for the contacts permission")
                    failure.needsAction -> println("needs a person: ${failure.message}")
                    else -> println("sync failed, will retry: ${failure.message}")
                }
            }
        } catch (e: AgentException.NotEnrolled) {
            println("enroll first: ${e.message}")
        } catch (e: AgentException.Unauthorized) {
            println("the server refused this device; enroll again: ${e.message}")
        }
        return agent.nextWakeUpMs()
    }
}
