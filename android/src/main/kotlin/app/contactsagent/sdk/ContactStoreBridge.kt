package app.contactsagent.sdk

/**
 * The phone's contact store as the Rust core sees it through JNI. Every call moves a whole
 * batch as JSON in a ByteArray (never one call per contact); the shapes are
 * `src/store/bridge.rs`. Implementations translate, they decide nothing: the core has
 * already computed what to insert, update and delete.
 *
 * Calls arrive on whatever thread runs the agent (a background thread). A thrown exception
 * fails the current batch cleanly: the core reports it and the next sync converges. Two
 * failures have a meaning of their own: throw exactly [ContactStorePermissionException] or
 * [ContactStoreUnavailableException] (the core matches the class name, not subclasses).
 */
interface ContactStoreBridge {
    /**
     * Every raw contact of our account that carries a server id, deleted ones included:
     * `[{"raw_id","id","hash","photo_hash","state":"clean|dirty|deleted"}]`. Two raw contacts
     * with one server id (SOURCE_ID is not unique in ContactsProvider) are both listed; the
     * core decides which to remove.
     */
    fun managedIndex(): ByteArray

    /**
     * Applies one batch atomically (one applyBatch): `[{"op":"insert","id","hash",
     * "display_name","rows":[{"mimetype","data":[10 values]}],"photo_action":"keep|set|clear",
     * "photo_hash","photo"(base64)} | {"op":"update", …the same…, "owned_mimetypes":[…]}
     * | {"op":"delete","id"} | {"op":"delete_raw","raw_id"} | {"op":"insert_group","source_id",
     * "title"} | {"op":"rename_group","group_id","title"} | {"op":"delete_group","group_id"}]`.
     * An insert or update may name `group_source_ids`: one GroupMembership row each, written
     * with GROUP_SOURCE_ID. An update replaces only the rows of `owned_mimetypes`. A photo
     * `set` is written to the raw contact's display photo after the batch; SYNC2 takes its
     * hash only once that write succeeded. Group operations touch only our account's groups.
     */
    fun applyBatch(ops: ByteArray)

    /**
     * Every contact group of our account, tombstones included: `[{"group_id","source_id",
     * "title","deleted","dirty","members"}]`, `members` counting our raw contacts (not
     * deleted) with a membership row pointing at it. Never another account's groups.
     */
    fun managedGroups(): ByteArray

    /**
     * A page of managed contacts with their data rows, ordered by id, each with `groups`:
     * `[{"id": SOURCE_ID, "name": TITLE}]` of the groups of ours its membership rows point at.
     */
    fun managedContacts(offset: Int, limit: Int): ByteArray

    /** Personal contacts (every account but ours) after raw id [after] (-1: from the start). */
    fun personalPage(after: Long, limit: Int): ByteArray

    /** Inserts personal contacts (restore) into [account] (null: device-local), all or none. */
    fun insertPersonal(account: String?, contacts: ByteArray)
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
