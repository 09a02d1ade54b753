package app.contactsagent.android

import android.app.job.JobParameters
import android.app.job.JobService
import app.contactsagent.sdk.AgentException

/** Runs the agent's run_due off the main thread, then re-arms the job at its next wake-up. */
class ContactsSyncJobService : JobService() {
    override fun onStartJob(params: JobParameters): Boolean {
        Thread {
            var next = System.currentTimeMillis() + 30 * 60 * 1000L
            try {
                ContactsAgentShell.withAgent(applicationContext) { agent ->
                    agent.runDue()
                    next = agent.nextWakeUpMs()
                }
            } catch (e: AgentException) {
                // Recorded in the agent's run history and reported; the schedule backs off.
            }
            ContactsAgentShell.schedule(applicationContext, next)
            jobFinished(params, false)
        }.start()
        return true
    }

    override fun onStopJob(params: JobParameters): Boolean = true
}
