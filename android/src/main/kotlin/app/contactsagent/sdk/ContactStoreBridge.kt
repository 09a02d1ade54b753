package app.contactsagent.sdk

/**
 * The phone's contact store as the Rust core sees it through JNI. Every call moves a whole
 * batch as JSON in a ByteArray (never one call per contact); the shapes are
 * `src/store/bridge.rs`. Implementations translate, they decide nothing: the core has
 * already computed what to insert, update and delete.
 *
 * Calls arrive on whatever thread runs the agent (a background thread). A thrown exception
 * fails the current batch cleanly: the core reports it and the next sync converges.
 */
interface ContactStoreBridge {
    /** Every managed contact: `[{"id","hash","photo_hash","state":"clean|dirty|deleted"}]`. */
    fun managedIndex(): ByteArray

    /**
     * Applies one batch atomically (one applyBatch): `[{"op":"insert|update","id","hash",
     * "display_name","rows":[{"mimetype","data":[10 values]}],"photo_action":"keep|set|clear",
     * "photo_hash","photo"(base64)} | {"op":"delete","id"}]`.
     */
    fun applyBatch(ops: ByteArray)

    /** A page of managed contacts with their data rows, ordered by id. */
    fun managedContacts(offset: Int, limit: Int): ByteArray

    /** Personal contacts (every account but ours) after raw id [after] (-1: from the start). */
    fun personalPage(after: Long, limit: Int): ByteArray

    /** Inserts personal contacts (restore) into [account] (null: device-local), all or none. */
    fun insertPersonal(account: String?, contacts: ByteArray)
}

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

    /** Keeps a global reference to [store]; pass the handle to `Agent.withJniStore`. */
    @JvmStatic external fun register(store: ContactStoreBridge): Long

    /** Drops the reference (after the agents using it are closed). */
    @JvmStatic external fun release(handle: Long)
}
