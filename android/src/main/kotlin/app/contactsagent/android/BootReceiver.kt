package app.contactsagent.android

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent

/** Re-arms the job after a reboot (a missed period then gives one run, not several). */
class BootReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        if (intent.action == Intent.ACTION_BOOT_COMPLETED) ContactsAgentShell.schedule(context, 0)
    }
}
