package com.example.companyapp

import android.Manifest
import android.app.Activity
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import app.contactsagent.android.ContactsAgentShell
import app.contactsagent.android.create
import app.contactsagent.sdk.AgentException
import app.contactsagent.sdk.ContactsAgent
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * A host app embedding the SDK: ask for the contacts permission, enroll with the code the MDM
 * handed over (from a coroutine, every failure shown to the user), schedule the runs, show
 * progress, and leave (unenroll). The push hook is CompanyPushReceiver.
 */
class MainActivity : Activity() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main)
    private var agent: ContactsAgent? = null
    private lateinit var message: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        message = TextView(this)
        val leave = Button(this).apply {
            text = "Remove company contacts"
            setOnClickListener { unenroll() }
        }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            addView(message)
            addView(leave)
        })
        askForContactsPermission()
        val code = intent.getStringExtra("enrollment_code")
        val server = intent.getStringExtra("server_url")
        if (code != null && server != null) enroll(server, code)
    }

    // The agent opens its state on disk: make it off the main thread, once.
    private suspend fun agent(): ContactsAgent = agent ?: withContext(Dispatchers.IO) {
        ContactsAgent.create(applicationContext, accountName = "Company contacts")
    }.also { created ->
        agent = created
        scope.launch { created.progress.collect { p -> show("${p.phase}: ${p.done}" + (p.total?.let { " of $it" } ?: "")) } }
    }

    private fun enroll(serverUrl: String, code: String) = scope.launch {
        try {
            val agent = agent()
            agent.enroll(serverUrl, code, Build.MODEL)
            ContactsAgentShell.schedule(applicationContext, agent.nextWakeUpMs())
            show("Enrolled: company contacts arrive shortly")
        } catch (e: AgentException.Server) {
            show("The server did not accept this code: ${e.message}")
        } catch (e: AgentException.Network) {
            show("No connection to the company server; try again later")
        } catch (e: AgentException) {
            show("Enrollment failed: ${e.message}")
        }
    }

    private fun unenroll() = scope.launch {
        try {
            val result = agent().unenroll()
            show(
                "${result.contactsRemoved} company contacts removed" +
                    if (result.serverNotified) "" else " (the server could not be told; your admin can retire this phone)",
            )
        } catch (e: AgentException.NotEnrolled) {
            show("This phone is not enrolled")
        } catch (e: AgentException) {
            show("Could not remove the company contacts: ${e.message}")
        }
    }

    private fun askForContactsPermission() {
        val needed = arrayOf(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
        if (needed.any { checkSelfPermission(it) != PackageManager.PERMISSION_GRANTED }) {
            requestPermissions(needed, 1)
        }
    }

    private fun show(text: String) {
        message.text = text
    }

    override fun onDestroy() {
        scope.cancel() // a running call is interrupted; the next run converges
        agent?.close()
        super.onDestroy()
    }
}
