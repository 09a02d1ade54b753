package app.contactsagent.android

import android.app.job.JobParameters
import android.app.job.JobService
import app.contactsagent.sdk.Agent
import app.contactsagent.sdk.AgentException

/**
 * Runs the agent's run_due off the main thread, then re-arms the job at its next wake-up.
 * When the system stops the job (constraints lost, quota), onStopJob interrupts the running
 * agent, which stops at its next page or batch; the job is rescheduled by the system.
 */
class ContactsSyncJobService : JobService() {
    private val lock = Any()
    private var running: Agent? = null // guarded by lock
    private var stopped = false // guarded by lock

    /** The thread of the current run (tests wait for it). */
    @Volatile
    internal var worker: Thread? = null
        private set

    override fun onStartJob(params: JobParameters): Boolean {
        synchronized(lock) { stopped = false }
        worker = Thread {
            var next = System.currentTimeMillis() + 30 * 60 * 1000L
            var retired = false
            try {
                ContactsAgentShell.withAgent(applicationContext) { agent ->
                    // Registered before the run starts, cleared before the agent is closed:
                    // onStopJob never interrupts a closed agent, nor misses a started run.
                    val go = synchronized(lock) {
                        if (!stopped) running = agent
                        !stopped
                    }
                    if (go) {
                        try {
                            retired = agent.runDue().retiredByAdmin != null
                            next = agent.nextWakeUpMs()
                        } finally {
                            synchronized(lock) { running = null }
                        }
                    }
                }
            } catch (e: AgentException) {
                // Recorded in the agent's run history and reported; the schedule backs off.
                // Interrupted lands here too, after onStopJob.
            }
            // After onStopJob the system owns the job (it reschedules it): neither re-arm nor
            // finish it here.
            if (retired) {
                // The admin retired the device and the agent unenrolled: the account and the
                // job go, as after ContactsAgent.unenroll; nothing is re-armed.
                ContactsAgentShell.removeAccount(applicationContext)
                jobFinished(params, false)
            } else if (synchronized(lock) { !stopped }) {
                ContactsAgentShell.schedule(applicationContext, next)
                jobFinished(params, false)
            }
        }.also { it.start() }
        return true
    }

    /** Stops the running sync at its next page or batch; true: the system reschedules the job. */
    override fun onStopJob(params: JobParameters): Boolean {
        synchronized(lock) {
            stopped = true
            running?.interrupt()
        }
        return true
    }
}
