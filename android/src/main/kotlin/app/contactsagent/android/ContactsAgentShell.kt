package app.contactsagent.android

import android.accounts.Account
import android.accounts.AccountManager
import android.app.job.JobInfo
import android.app.job.JobScheduler
import android.content.ComponentName
import android.content.Context
import app.contactsagent.sdk.Agent
import app.contactsagent.sdk.AgentConfig
import app.contactsagent.sdk.JniBridge

/**
 * What a host app calls. Everything it does is OS plumbing; what to sync, when, and what to
 * report is decided by the Rust core.
 */
object ContactsAgentShell {
    const val JOB_ID = 0x0c0a_9e47
    private const val PREFS = "contacts_agent_shell"

    /** The account type declared in res/xml/authenticator.xml (looked up by name: the SDK
     * ships no generated R class, and host apps override the string). */
    fun accountType(context: Context): String {
        val id = context.resources.getIdentifier("contacts_agent_account_type", "string", context.packageName)
        return if (id != 0) context.getString(id) else "app.contactsagent.business"
    }

    /** Creates the account (idempotent) and remembers where the agent keeps its state. */
    fun configure(context: Context, accountName: String) {
        val account = Account(accountName, accountType(context))
        AccountManager.get(context).addAccountExplicitly(account, null, null)
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().putString("account", accountName).apply()
    }

    internal fun account(context: Context): Account? =
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).getString("account", null)
            ?.let { Account(it, accountType(context)) }

    /** The agent's configuration on a phone: its state in noBackupFilesDir. */
    internal fun agentConfig(context: Context, accountType: String) = AgentConfig(
        stateDir = context.noBackupFilesDir.resolve("contacts-agent").path,
        accountType = accountType,
        pageSize = 500,
        commandPollSeconds = 1800,
    )

    /**
     * Runs [block] with a blocking agent over ContactsProvider, or returns null when no
     * account was configured (never enrolled, or unenrolled). Call from a background thread.
     */
    fun <T> withAgent(context: Context, block: (Agent) -> T): T? {
        val account = account(context) ?: return null
        val store = ContactsContractStore(context.applicationContext, account)
        val handle = JniBridge.register(store)
        try {
            return Agent.withJniStore(agentConfig(context, account.type), handle).use(block)
        } finally {
            JniBridge.release(handle)
        }
    }

    /** Schedules the next run at the agent's nextWakeUp, network required. */
    fun schedule(context: Context, atEpochMs: Long) {
        val scheduler = context.getSystemService(JobScheduler::class.java) ?: return
        val delay = (atEpochMs - System.currentTimeMillis()).coerceAtLeast(0)
        val job = JobInfo.Builder(JOB_ID, ComponentName(context, ContactsSyncJobService::class.java))
            .setRequiredNetworkType(JobInfo.NETWORK_TYPE_ANY)
            .setMinimumLatency(delay)
            .setPersisted(true)
            .build()
        scheduler.schedule(job)
    }

    /** The host app's push service calls this for a "sync now" message: run at once. */
    fun onPushMessage(context: Context) = schedule(context, 0)

    /**
     * Removes the business account (ContactsProvider then drops whatever is left under it,
     * groups included) and the scheduled job. ContactsAgent.unenroll calls it after the core
     * removed the contacts and told the server.
     */
    fun removeAccount(context: Context) {
        val account = account(context) ?: return
        AccountManager.get(context).removeAccountExplicitly(account)
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().remove("account").apply()
        context.getSystemService(JobScheduler::class.java)?.cancel(JOB_ID)
    }
}
