// The README's embedding example, compiled (and run) by the test command so it cannot rot.
package app.contactsagent.sdk

/** What a host app's background work does: run whatever is due, then say when to come back. */
suspend fun runContactsAgent(agent: ContactsAgent): Long {
    try {
        val result = agent.runDue()
        result.sync?.let { sync -> println("synced (${sync.reason}): ${sync.contactsOnPhone} contacts") }
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
