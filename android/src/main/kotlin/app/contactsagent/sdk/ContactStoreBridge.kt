package app.contactsagent.sdk

/**
 * The phone's contact store as the Rust core sees it through JNI. Every call moves a whole
 * batch in one ByteArray (never one call per contact), in the versioned binary layout of
 * `src/store/bridge.rs`, read and written by [BridgeCodec]. Rows carry ContactsProvider's own
 * mimetypes and TYPE integers: implementations copy columns, they decide nothing (the core has
 * already computed what to insert, update and delete).
 *
 * Calls arrive on whatever thread runs the agent (a background thread). A thrown exception
 * fails the current batch cleanly: the core reports it and the next sync converges. Two
 * failures have a meaning of their own: throw exactly [ContactStorePermissionException] or
 * [ContactStoreUnavailableException] (the core matches the class name, not subclasses). A
 * payload of another format version is a [BridgeFormatException], before anything is written.
 */
interface ContactStoreBridge {
    /**
     * Every raw contact of our account that carries a server id, deleted ones included
     * ([BridgeCodec.encodeIndex]: _ID, SOURCE_ID, SYNC1, SYNC2, DIRTY, DELETED). Two raw
     * contacts with one server id (SOURCE_ID is not unique in ContactsProvider) are both
     * listed; the core decides which to remove.
     */
    fun managedIndex(): ByteArray

    /**
     * Applies one batch atomically (one applyBatch) of [BridgeCodec.decodeOps] operations:
     * insert and update (data rows as given; GroupMembership rows by GROUP_SOURCE_ID; an
     * update first deletes only the rows of its owned mimetypes), delete by SOURCE_ID, delete
     * by _ID, and our account's group insert / rename / delete. A photo `set` is written to the
     * raw contact's display photo after the batch; SYNC2 takes its hash only once that write
     * succeeded.
     */
    fun applyBatch(ops: ByteArray)

    /**
     * Every contact group of our account, tombstones included ([BridgeCodec.encodeGroups]),
     * `members` counting our raw contacts (not deleted) with a membership row pointing at it.
     * Never another account's groups.
     */
    fun managedGroups(): ByteArray

    /**
     * A page of managed contacts with their data rows, ordered by SOURCE_ID
     * ([BridgeCodec.encodeManaged]), each with the (SOURCE_ID, TITLE) of the groups of ours
     * its membership rows point at.
     */
    fun managedContacts(offset: Int, limit: Int): ByteArray

    /**
     * Personal raw contacts (every account but ours) after raw id [after] (-1: from the
     * start), in _ID order ([BridgeCodec.encodePersonal]): account type and name, STARRED,
     * data rows as stored, the TITLEs of their groups, the display photo's bytes.
     */
    fun personalPage(after: Long, limit: Int): ByteArray

    /** The accounts on the phone personal contacts may live in, ours excepted ([BridgeCodec.encodeAccounts]). */
    fun personalAccounts(): ByteArray

    /**
     * Inserts personal contacts (restore), all or none ([BridgeCodec.decodePersonalInsert]):
     * into the account the payload names (none: device-local), with STARRED, their rows, a
     * membership in each named group of that account (made when missing), and their photos.
     */
    fun insertPersonal(contacts: ByteArray)
}

/**
 * READ_CONTACTS or WRITE_CONTACTS is not granted, or was revoked while a run was writing.
 * The core reports "permission denied", which only the user can fix (not retried on the
 * backoff schedule). Thrown as exactly this class: the core matches its name.
 */
class ContactStorePermissionException(cause: Throwable? = null) :
    SecurityException("contacts permission not granted", cause)

/**
 * The contacts provider is unavailable (its process died mid-call): nothing of the failed
 * batch was written; the core retries on its backoff schedule. The core matches exactly
 * this class name.
 */
open class ContactStoreUnavailableException(cause: Throwable?) :
    IllegalStateException("contacts provider unavailable", cause)

/**
 * Hands a [ContactStoreBridge] to the Rust core. The uniffi bindings load the library
 * through JNA, so JNI_OnLoad does not run there; loading it here with System.loadLibrary
 * (the same file, mapped once) lets the JVM bind these native methods and tells the core its
 * JavaVM.
 */
object JniBridge {
    init {
        System.loadLibrary("contacts_agent")
    }

    /** Loads the library now (the object's initialiser), so a missing one fails here. */
    @JvmStatic fun ensureLoaded() {}

    /** Keeps a global reference to [store]; pass the handle to `Agent.withJniStore`. */
    @JvmStatic external fun register(store: ContactStoreBridge): Long

    /** Drops the reference (after the agents using it are closed). */
    @JvmStatic external fun release(handle: Long)
}
