package app.contactsagent.android

import android.content.Context
import android.os.Looper
import app.contactsagent.sdk.AgentConfig
import app.contactsagent.sdk.ContactsAgent

/**
 * How an app gets an agent on a phone: backed by ContactsProvider through the shell's
 * adapter, under the business account [accountName] (created if missing, idempotent). The
 * agent's state lives in `noBackupFilesDir/contacts-agent` (never in a cloud backup: it
 * holds the device token). Cheap enough to create per screen; [ContactsAgent.close] it when
 * done. From Java: `ContactsAgents.create(context, "Company contacts")`.
 */
object ContactsAgents {
    @JvmStatic
    @JvmOverloads
    fun create(
        context: Context,
        accountName: String,
        caCertificatePem: String? = null,
        spkiPins: List<String> = emptyList(),
    ): ContactsAgent {
        val app = context.applicationContext
        ContactsAgentShell.configure(app, accountName)
        val account = ContactsAgentShell.account(app) ?: error("the business account was not configured")
        val config = ContactsAgentShell.agentConfig(app, account.type)
            .copy(caCertificatePem = caCertificatePem, spkiPins = spkiPins)
        return ContactsAgent.withStore(
            config,
            ContactsContractStore(app, account),
            isMainThread = { Looper.myLooper() == Looper.getMainLooper() },
            afterUnenroll = { ContactsAgentShell.removeAccount(app) },
        )
    }
}

/** `ContactsAgent.create(context, accountName)`: see [ContactsAgents.create]. */
fun ContactsAgent.Companion.create(
    context: Context,
    accountName: String,
    caCertificatePem: String? = null,
    spkiPins: List<String> = emptyList(),
): ContactsAgent = ContactsAgents.create(context, accountName, caCertificatePem, spkiPins)
