// The app-facing way in, in Robolectric with the real library and the provider stand-in:
// ContactsAgent.create(context, account) syncs into "ContactsProvider", and unenroll removes
// the contacts, the account and the scheduled job, and tells the server; so does runDue when
// it carries out the admin's retire.
package app.contactsagent.android

import android.Manifest
import android.accounts.AccountManager
import android.app.job.JobScheduler
import app.contactsagent.sdk.ContactsAgent
import app.contactsagent.sdk.ReferenceServer
import app.contactsagent.testing.FakeContactsProvider
import app.contactsagent.testing.ShellTestRunner
import kotlinx.coroutines.runBlocking
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

@RunWith(ShellTestRunner::class)
@Config(sdk = [34])
class ContactsAgentsTest {
    companion object {
        private lateinit var server: ReferenceServer

        @BeforeClass
        @JvmStatic
        fun startServer() {
            server = ReferenceServer(users = 150)
        }

        @AfterClass
        @JvmStatic
        fun stopServer() = server.close()
    }

    private val app get() = RuntimeEnvironment.getApplication()

    @Test
    fun `create syncs into the provider and unenroll removes the contacts, the account and the job`() = runBlocking {
        val provider = FakeContactsProvider.install()
        try {
            shadowOf(app).grantPermissions(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
            val type = ContactsAgentShell.accountType(app)
            val ours = { provider.rawContacts("account_type = ?", type) }
            val code = server.device(listOf("sales"), "create-${System.nanoTime()}")
            ContactsAgent.create(app, "Company").use { agent ->
                assertEquals(1, AccountManager.get(app).getAccountsByType(type).size)
                agent.enroll(server.url, code, "robolectric phone")
                ContactsAgentShell.schedule(app, agent.nextWakeUpMs())
                agent.syncNow()
                assertEquals(server.members("sales"), ours().map { it.sourceId }.toSet())
                val scheduler = app.getSystemService(JobScheduler::class.java)
                assertNotNull(scheduler.getPendingJob(ContactsAgentShell.JOB_ID))

                val result = agent.unenroll()
                assertEquals(server.members("sales").size.toLong(), result.contactsRemoved)
                assertTrue(result.serverNotified)
                assertTrue(ours().isEmpty())
                assertEquals(0, AccountManager.get(app).getAccountsByType(type).size)
                assertNull(scheduler.getPendingJob(ContactsAgentShell.JOB_ID))
                assertEquals("retired", server.deviceState(code))
            }
        } finally {
            provider.close()
        }
    }

    @Test
    fun `runDue carrying out the admin's retire removes the contacts, the account and the job`() = runBlocking {
        val provider = FakeContactsProvider.install()
        try {
            shadowOf(app).grantPermissions(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
            val type = ContactsAgentShell.accountType(app)
            val ours = { provider.rawContacts("account_type = ?", type) }
            val code = server.device(listOf("sales"), "retire-${System.nanoTime()}")
            ContactsAgent.create(app, "Company").use { agent ->
                agent.enroll(server.url, code, "robolectric phone")
                ContactsAgentShell.schedule(app, agent.nextWakeUpMs())
                agent.syncNow()
                assertEquals(server.members("sales"), ours().map { it.sourceId }.toSet())
                val scheduler = app.getSystemService(JobScheduler::class.java)
                assertNotNull(scheduler.getPendingJob(ContactsAgentShell.JOB_ID))

                server.retire(code)
                assertEquals("retiring", server.deviceState(code))
                val result = agent.runDue()
                val retired = result.retiredByAdmin
                assertNotNull(retired)
                assertEquals(server.members("sales").size.toLong(), retired!!.contactsRemoved)
                assertNull(result.pollError)
                assertTrue(ours().isEmpty())
                assertEquals(0, AccountManager.get(app).getAccountsByType(type).size)
                assertNull(scheduler.getPendingJob(ContactsAgentShell.JOB_ID))
                assertEquals("retired", server.deviceState(code))
            }
        } finally {
            provider.close()
        }
    }
}
