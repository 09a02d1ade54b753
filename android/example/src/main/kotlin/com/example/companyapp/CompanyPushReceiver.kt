package com.example.companyapp

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import app.contactsagent.android.ContactsAgentShell

/**
 * The push hook. The host app's push service (Firebase Cloud Messaging, the MDM's own
 * channel) turns the admin's "Synchronize contacts" into this broadcast; the agent then runs
 * at once and picks the command up.
 */
class CompanyPushReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        if (intent.action == "com.example.companyapp.SYNC_CONTACTS") {
            ContactsAgentShell.onPushMessage(context)
        }
    }
}
