// The JobService the OS runs, in Robolectric with the real agent behind it: a run that
// finishes re-arms the job; a run the system stops is interrupted and left to the system to
// reschedule; a run that carries out the admin's retire removes the account and does not re-arm.
package app.contactsagent.android

import android.Manifest
import android.accounts.AccountManager
import android.app.job.JobParameters
import android.app.job.JobScheduler
import app.contactsagent.sdk.ReferenceServer
import app.contactsagent.testing.FakeContactsProvider
import app.contactsagent.testing.ShellTestRunner
import org.junit.After
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.BeforeClass
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

@RunWith(ShellTestRunner::class)
@Config(sdk = [34])
class SyncJobServiceTest {
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
    private lateinit var provider: FakeContactsProvider
    private lateinit var code: String

    /** JobParameters has no public constructor: the system makes them. All defaults here. */
    private fun params(): JobParameters {
        val ctor = JobParameters::class.java.declaredConstructors.maxByOrNull { it.parameterCount }!!
        ctor.isAccessible = true
        // (callback, namespace, jobId, extras, …): the first int is the job id, the rest default.
        val firstInt = ctor.parameterTypes.indexOfFirst { it == Int::class.javaPrimitiveType }
        val args = ctor.parameterTypes.mapIndexed<Class<*>, Any?> { i, t ->
            when (t) {
                Int::class.javaPrimitiveType -> if (i == firstInt) ContactsAgentShell.JOB_ID else 0
                Boolean::class.javaPrimitiveType -> false
                Long::class.javaPrimitiveType -> 0L
                else -> null
            }
        }
        return ctor.newInstance(*args.toTypedArray()) as JobParameters
    }

    private fun ours() = provider.rawContacts("account_type = ?", ContactsAgentShell.accountType(app))

    @Before
    fun setUp() {
        provider = FakeContactsProvider.install()
        shadowOf(app).grantPermissions(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
        ContactsAgentShell.configure(app, "Company")
        code = server.device(listOf("sales"), "job-${System.nanoTime()}")
        ContactsAgentShell.withAgent(app) { it.enroll(server.url, code, "job phone") }
    }

    @After
    fun tearDown() = provider.close()

    @Test
    fun `a job that runs to the end syncs, re-arms itself and finishes`() {
        val service = Robolectric.buildService(ContactsSyncJobService::class.java).create().get()
        assertTrue(service.onStartJob(params()))
        service.worker!!.join(60_000)
        assertEquals(server.members("sales"), ours().map { it.sourceId }.toSet())
        assertTrue(shadowOf(service).isJobFinished)
        assertFalse(shadowOf(service).isRescheduleNeeded)
        val pending = app.getSystemService(JobScheduler::class.java).getPendingJob(ContactsAgentShell.JOB_ID)
        assertNotNull("the job re-armed itself at the agent's next wake-up", pending)
    }

    @Test
    fun `onStopJob interrupts the running sync at its next step and leaves the rescheduling to the system`() {
        val gate = CountDownLatch(1)
        provider.queryGate = gate
        val service = Robolectric.buildService(ContactsSyncJobService::class.java).create().get()
        val params = params()
        assertTrue(service.onStartJob(params))
        // The run is inside the contact store (its first query holds there).
        assertTrue(provider.queryEntered.await(30, TimeUnit.SECONDS))
        assertTrue("true asks the system to reschedule the job", service.onStopJob(params))
        gate.countDown()
        service.worker!!.join(60_000)
        assertFalse(service.worker!!.isAlive)
        // Interrupted before its first batch: nothing written, the job neither finished nor re-armed by us.
        assertTrue(ours().isEmpty())
        val status = ContactsAgentShell.withAgent(app) { it.status() }!!
        assertTrue(status.lastSyncResult, status.lastSyncResult!!.contains("interrupted"))
        assertFalse(shadowOf(service).isJobFinished)
        assertEquals(null, app.getSystemService(JobScheduler::class.java).getPendingJob(ContactsAgentShell.JOB_ID))
    }

    @Test
    fun `a job that carries out the admin's retire removes the account and does not re-arm itself`() {
        val first = Robolectric.buildService(ContactsSyncJobService::class.java).create().get()
        assertTrue(first.onStartJob(params()))
        first.worker!!.join(60_000)
        assertFalse(ours().isEmpty())
        val scheduler = app.getSystemService(JobScheduler::class.java)
        assertNotNull(scheduler.getPendingJob(ContactsAgentShell.JOB_ID))

        server.retire(code)
        val service = Robolectric.buildService(ContactsSyncJobService::class.java).create().get()
        assertTrue(service.onStartJob(params()))
        service.worker!!.join(60_000)
        assertTrue(ours().isEmpty())
        assertEquals(0, AccountManager.get(app).getAccountsByType(ContactsAgentShell.accountType(app)).size)
        assertTrue(shadowOf(service).isJobFinished)
        assertEquals(null, scheduler.getPendingJob(ContactsAgentShell.JOB_ID))
        assertEquals("retired", server.deviceState(code))
    }
}
