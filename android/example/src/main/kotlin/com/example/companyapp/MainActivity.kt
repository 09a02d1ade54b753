package com.example.companyapp

import android.app.Activity
import android.os.Bundle
import app.contactsagent.android.ContactsAgentShell

/**
 * How a host app embeds the agent: configure the account once after the MDM enrolled the
 * device, enroll the agent with the code from the MDM, and schedule the first run. The push
 * service calls ContactsAgentShell.onPushMessage(context) for "Synchronize contacts".
 * (Runtime permission requests for READ/WRITE_CONTACTS are the host app's UI.)
 */
class MainActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val code = intent.getStringExtra("enrollment_code") ?: return
        val server = intent.getStringExtra("server_url") ?: return
        ContactsAgentShell.configure(this, accountName = "Company contacts")
        Thread {
            val next = ContactsAgentShell.withAgent(applicationContext) { agent ->
                agent.enroll(server, code, android.os.Build.MODEL)
                agent.nextWakeUpMs()
            }
            if (next != null) ContactsAgentShell.schedule(applicationContext, next)
        }.start()
    }
}
