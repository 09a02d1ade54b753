package app.contactsagent.sdk

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The SDK as an app uses it: `suspend` functions over the generated blocking [Agent].
 *
 * On a phone get one from `ContactsAgent.create(context, accountName)` (package
 * `app.contactsagent.android`): it is backed by ContactsProvider. [forHost] backs it with a
 * private SQLite file instead: for tests, demos and desktop tools, never for a phone (nothing
 * it syncs reaches the Contacts app).
 *
 * Threading: every suspend function is main-safe; the work runs on [Dispatchers.IO] and the
 * calls of one ContactsAgent run one at a time, in the order they were made. Cancelling the
 * calling coroutine interrupts the running call: it stops at its next page, batch or retry
 * wait, and the coroutine completes only once it has (a cancelled sync converges on the next
 * run). Errors are the sealed [AgentException] hierarchy; see the docs of each subclass.
 */
class ContactsAgent internal constructor(
    private val agent: Agent,
    private val isMainThread: () -> Boolean,
    private val afterUnenroll: () -> Unit,
    private val release: () -> Unit,
) : AutoCloseable {
    private val calls = Mutex()
    private val closed = AtomicBoolean(false)
    private val progressFlow = MutableSharedFlow<Progress>(
        extraBufferCapacity = 64,
        onBufferOverflow = BufferOverflow.DROP_OLDEST,
    )

    /**
     * Progress of the running sync, backup, restore or unenroll (phase, done, total). A slow
     * collector loses the oldest reports, never slows the call.
     */
    val progress: SharedFlow<Progress> = progressFlow.asSharedFlow()

    init {
        agent.setProgressListener(object : ProgressListener {
            override fun onProgress(progress: Progress) {
                progressFlow.tryEmit(progress)
            }
        })
    }

    /**
     * The blocking API underneath, for code already on a worker thread (a JobService, a
     * WorkManager worker). Throws [IllegalStateException] on the main thread: its calls
     * block on disk and network.
     */
    val blocking: Agent
        get() {
            check(!isMainThread()) { "ContactsAgent.blocking called on the main thread; use the suspend functions there" }
            checkOpen()
            return agent
        }

    /** Enrolls with the one-time code from the MDM; returns the device id. */
    suspend fun enroll(serverUrl: String, enrollmentCode: String, deviceName: String): String =
        call { it.enroll(serverUrl, enrollmentCode, deviceName) }

    /**
     * Runs whatever is due (command poll, sync, backup, status report); see [Agent.runDue].
     * When it carried out the admin's retire ([RunDueResult.retiredByAdmin]), the business
     * account and the scheduled job go too, as after [unenroll].
     */
    suspend fun runDue(): RunDueResult =
        call { it.runDue().also { r -> if (r.retiredByAdmin != null) afterUnenroll() } }

    /** Syncs now, whatever the schedule says. */
    suspend fun syncNow(): SyncResult = call { it.syncNow() }

    /** Backs up the phone's personal contacts now. */
    suspend fun backupNow(): BackupResult = call { it.backupNow() }

    /** This device's backups on the server, newest first (for the user to pick one). */
    suspend fun listBackups(): List<BackupInfo> = call { it.listBackups() }

    /**
     * Restores [backupId] (the newest when null) into the personal contacts: every contact
     * into [account] (not the business one) — an account's name ("someone@gmail.com"), or its
     * type when the phone has exactly one account of that type; any other word throws
     * InvalidArgument before anything is written — or, when null, each into the account it
     * was backed up from if that is on the phone, else device-local.
     */
    suspend fun restore(backupId: String? = null, account: String? = null): RestoreResult =
        call { it.restore(backupId, account) }

    /**
     * Leaves management: every business contact is removed, the server is told (the console
     * shows the device as retired), the agent's state is wiped, and on a phone the business
     * account and the scheduled job go too. Afterwards every call but [enroll] throws
     * [AgentException.NotEnrolled]. Personal contacts are not touched.
     */
    suspend fun unenroll(): UnenrollResult = call { it.unenroll().also { afterUnenroll() } }

    /** The sync status, as the console shows it. */
    suspend fun status(): SyncStatus = call { it.status() }

    /** A page of the business contacts on the phone, ordered by id. */
    suspend fun managedContacts(offset: Int, limit: Int): List<ManagedContact> =
        call { it.managedContacts(offset, limit) }

    /** Epoch ms at which the OS should run [runDue] next. */
    suspend fun nextWakeUpMs(): Long = call { it.nextWakeUpMs() }

    /** Stops the running call (it throws [AgentException.Interrupted]); safe from any thread. */
    fun interrupt() = agent.interrupt()

    /** Frees the native agent (and the store registration). Calls after this throw. */
    override fun close() {
        if (closed.compareAndSet(false, true)) {
            agent.clearProgressListener()
            agent.close()
            release()
        }
    }

    private fun checkOpen() = check(!closed.get()) { "this ContactsAgent is closed" }

    /**
     * One call on the IO dispatcher, after the calls made before it. A cancelled caller
     * interrupts the call and waits for it to stop; the [AgentException.Interrupted] it then
     * throws becomes the coroutine's cancellation, not a failure.
     */
    private suspend fun <T> call(block: (Agent) -> T): T {
        checkOpen()
        return calls.withLock {
            coroutineScope {
                val work = async(Dispatchers.IO) {
                    try {
                        block(agent)
                    } catch (e: AgentException.Interrupted) {
                        ensureActive()
                        throw e
                    }
                }
                try {
                    work.await()
                } catch (e: CancellationException) {
                    agent.interrupt()
                    throw e
                }
            }
        }
    }

    companion object {
        /**
         * An agent whose contact store is a private SQLite model of ContactsProvider in
         * [AgentConfig.stateDir]: tests, demos, desktop tools. Not for a phone.
         */
        @JvmStatic
        fun forHost(config: AgentConfig): ContactsAgent {
            NativeLibrary.check()
            return ContactsAgent(Agent.forHost(config), { false }, {}, {})
        }

        /**
         * An agent over [store] (what `create(context, …)` does with the ContactsProvider
         * adapter). [isMainThread] makes [blocking] refuse the main thread; [afterUnenroll]
         * runs after a successful [unenroll] (remove the account, cancel the job).
         */
        @JvmStatic
        @JvmOverloads
        fun withStore(
            config: AgentConfig,
            store: ContactStoreBridge,
            isMainThread: () -> Boolean = { false },
            afterUnenroll: () -> Unit = {},
        ): ContactsAgent {
            NativeLibrary.check()
            val handle = JniBridge.register(store)
            val agent = try {
                Agent.withJniStore(config, handle)
            } catch (e: Throwable) {
                JniBridge.release(handle)
                throw e
            }
            return ContactsAgent(agent, isMainThread, afterUnenroll, release = { JniBridge.release(handle) })
        }
    }
}

/**
 * `libcontacts_agent.so` is missing, or was built from another version than these Kotlin
 * bindings (uniffi checks the API's checksums when it loads the library). Thrown when the
 * first agent is made, not at some later call.
 */
class IncompatibleLibraryException(message: String, cause: Throwable?) : IllegalStateException(message, cause)

/** Loads the native library once and checks it matches the bindings. */
internal object NativeLibrary {
    @Volatile
    private var checked = false

    fun check() {
        if (checked) return
        try {
            // The first call into uniffi loads the library through JNA and compares its API
            // checksums and contract version with the generated Kotlin.
            libraryVersion()
            JniBridge.ensureLoaded()
        } catch (e: Throwable) {
            throw IncompatibleLibraryException(
                "libcontacts_agent could not be loaded or does not match the SDK's Kotlin bindings " +
                    "(ship the .so built with this SDK version, for every ABI): ${e.javaClass.simpleName}",
                e,
            )
        }
        checked = true
    }
}
