// A ContactsProvider stand-in for Robolectric: the rules of docs/contacts-provider-model.md
// (each cited by number) over Robolectric's real android.database.sqlite, registered for the
// authority com.android.contacts. Test-only: nothing here ships.
package app.contactsagent.testing

import android.content.ContentProvider
import android.content.ContentProviderOperation
import android.content.ContentProviderResult
import android.content.ContentUris
import android.content.ContentValues
import android.content.OperationApplicationException
import android.content.UriMatcher
import android.content.res.AssetFileDescriptor
import android.database.Cursor
import android.database.sqlite.SQLiteDatabase
import android.net.Uri
import android.os.DeadObjectException
import android.os.Handler
import android.os.HandlerThread
import android.os.ParcelFileDescriptor
import android.os.TransactionTooLargeException
import android.provider.ContactsContract
import android.provider.ContactsContract.CommonDataKinds.GroupMembership
import android.provider.ContactsContract.CommonDataKinds.Photo
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.Groups
import android.provider.ContactsContract.RawContacts
import org.robolectric.Robolectric
import java.io.ByteArrayInputStream
import java.io.File
import java.io.FileNotFoundException
import java.security.MessageDigest
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import javax.imageio.ImageIO

/** How a display-photo write fails (a test hook). */
enum class PhotoFailure {
    NONE,

    /** openAssetFile throws FileNotFoundException (e.g. no space for the temporary file). */
    OPEN,

    /** The file is written but the provider drops it while processing, as it does with an image BitmapFactory cannot decode (rule 2). */
    PROCESSING,
}

/** One raw_contacts row, as a test reads it. */
data class RawRow(
    val id: Long,
    val accountType: String?,
    val accountName: String?,
    val sourceId: String?,
    val sync1: String?,
    val sync2: String?,
    val dirty: Int,
    val deleted: Int,
    val version: Int,
    val readOnly: Int,
)

/** One data row: [data] holds DATA1..DATA14 (DATA14 = PHOTO_FILE_ID), [data15] the thumbnail blob. */
class DataRow(
    val id: Long,
    val rawId: Long,
    val mimetype: String,
    val data: List<String?>,
    val data15: ByteArray?,
    val isPrimary: Int,
    val isReadOnly: Int,
    val dataVersion: Int,
    val isSuperPrimary: Int = 0,
) {
    val photoFileId: Long? get() = data[13]?.toLong()
    override fun toString() = "DataRow($id, raw=$rawId, $mimetype, ${data.take(4)}, ro=$isReadOnly)"
}

class FakeContactsProvider : ContentProvider() {
    companion object {
        const val AUTHORITY = ContactsContract.AUTHORITY

        /** AbstractContactsProvider.MAX_OPERATIONS_PER_YIELD_POINT (rule 5). */
        const val MAX_OPERATIONS_PER_YIELD_POINT = 500

        /** Creates the provider and registers it for com.android.contacts in this test's sandbox. */
        fun install(): FakeContactsProvider = Robolectric.setupContentProvider(FakeContactsProvider::class.java, AUTHORITY)

        private const val RAW_CONTACTS = 1
        private const val RAW_CONTACTS_ID = 2
        private const val RAW_CONTACTS_ID_DATA = 3
        private const val RAW_CONTACTS_ID_DISPLAY_PHOTO = 4
        private const val DATA = 5
        private const val DATA_ID = 6
        private const val SETTINGS = 7
        private const val GROUPS = 8
        private const val GROUPS_ID = 9

        private val matcher = UriMatcher(UriMatcher.NO_MATCH).apply {
            addURI(AUTHORITY, "raw_contacts", RAW_CONTACTS)
            addURI(AUTHORITY, "raw_contacts/#", RAW_CONTACTS_ID)
            addURI(AUTHORITY, "raw_contacts/#/data", RAW_CONTACTS_ID_DATA)
            addURI(AUTHORITY, "raw_contacts/#/display_photo", RAW_CONTACTS_ID_DISPLAY_PHOTO)
            addURI(AUTHORITY, "data", DATA)
            addURI(AUTHORITY, "data/#", DATA_ID)
            addURI(AUTHORITY, "settings", SETTINGS)
            addURI(AUTHORITY, "groups", GROUPS)
            addURI(AUTHORITY, "groups/#", GROUPS_ID)
        }

        private val DATA_COLUMNS = (1..15).map { "data$it" }

        fun sha256(bytes: ByteArray): String = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
    }

    // ---- test hooks -------------------------------------------------------------------

    /** Every call throws SecurityException, as for a caller without READ/WRITE_CONTACTS. */
    @Volatile var permissionDenied = false

    /** applyBatch throws SecurityException before its operation of this index (a permission revoked mid-batch); the batch rolls back. */
    @Volatile var revokeAtOperation: Int? = null

    /** Binder stand-in: applyBatch of more operations than this throws TransactionTooLargeException before anything runs (rule 5). */
    @Volatile var maxOperationsPerTransaction: Int? = null

    /** The provider's process died: applyBatch throws DeadObjectException, query answers null (what ContentResolver.query returns then). */
    @Volatile var dead = false

    @Volatile var photoFailure = PhotoFailure.NONE

    /** When set, photo processing waits for it: a test decides when a written photo lands (rule 2). */
    @Volatile var photoGate: CountDownLatch? = null

    /** When set, queries wait for it (after counting down [queryEntered]): holds a sync in the middle. */
    @Volatile var queryGate: CountDownLatch? = null
    val queryEntered = CountDownLatch(1)

    /** The size of every applyBatch call, failed ones included, in order. */
    val batchSizes: MutableList<Int> = Collections.synchronizedList(ArrayList())

    /** Exceptions of the background photo processing (a test asserts there were none). */
    val photoErrors: MutableList<Throwable> = Collections.synchronizedList(ArrayList())

    private val photosInFlight = AtomicInteger()

    // ---- storage ----------------------------------------------------------------------

    private lateinit var db: SQLiteDatabase
    private lateinit var photoDir: File
    private lateinit var photoThread: HandlerThread
    private lateinit var photoHandler: Handler

    override fun onCreate(): Boolean {
        val dir = File(context!!.cacheDir, "fake-contacts-provider-${System.nanoTime()}").apply { mkdirs() }
        photoDir = File(dir, "photos").apply { mkdirs() }
        db = SQLiteDatabase.openOrCreateDatabase(File(dir, "contacts2.db"), null)
        // Rule 4: nothing makes (account, sourceid) unique; the index is a plain one.
        db.execSQL(
            """CREATE TABLE raw_contacts (_id INTEGER PRIMARY KEY AUTOINCREMENT, account_type TEXT, account_name TEXT,
               sourceid TEXT, sync1 TEXT, sync2 TEXT, sync3 TEXT, sync4 TEXT,
               dirty INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1,
               raw_contact_is_read_only INTEGER NOT NULL DEFAULT 0, starred INTEGER NOT NULL DEFAULT 0)""",
        )
        db.execSQL("CREATE INDEX raw_contacts_source_id_account_index ON raw_contacts (sourceid, account_type, account_name)")
        db.execSQL(
            """CREATE TABLE data (_id INTEGER PRIMARY KEY AUTOINCREMENT, raw_contact_id INTEGER NOT NULL REFERENCES raw_contacts(_id),
               mimetype TEXT NOT NULL, is_primary INTEGER NOT NULL DEFAULT 0, is_super_primary INTEGER NOT NULL DEFAULT 0,
               is_read_only INTEGER NOT NULL DEFAULT 0, data_version INTEGER NOT NULL DEFAULT 0,
               ${DATA_COLUMNS.joinToString(", ") { if (it == "data15") "$it BLOB" else "$it TEXT" }},
               data_sync1 TEXT, data_sync2 TEXT, data_sync3 TEXT, data_sync4 TEXT)""",
        )
        // Data queries see their raw contact's account, as view_data does.
        db.execSQL(
            """CREATE VIEW view_data AS SELECT data.*, raw_contacts.account_type AS account_type,
               raw_contacts.account_name AS account_name, raw_contacts.sourceid AS sourceid,
               raw_contacts.deleted AS deleted, raw_contacts.dirty AS dirty
               FROM data JOIN raw_contacts ON data.raw_contact_id = raw_contacts._id""",
        )
        // Rule 7: ungrouped_visible defaults to 0.
        db.execSQL(
            """CREATE TABLE settings (account_name TEXT, account_type TEXT, should_sync INTEGER NOT NULL DEFAULT 1,
               ungrouped_visible INTEGER NOT NULL DEFAULT 0, UNIQUE (account_name, account_type))""",
        )
        db.execSQL("CREATE TABLE photo_files (_id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL)")
        // Rule 9: the provider's groups columns and defaults (GROUP_VISIBLE 0, SHOULD_SYNC 1);
        // SOURCE_ID is indexed with the account, not unique.
        db.execSQL(
            """CREATE TABLE groups (_id INTEGER PRIMARY KEY AUTOINCREMENT, account_type TEXT, account_name TEXT, sourceid TEXT,
               version INTEGER NOT NULL DEFAULT 1, dirty INTEGER NOT NULL DEFAULT 0, title TEXT, notes TEXT,
               deleted INTEGER NOT NULL DEFAULT 0, group_visible INTEGER NOT NULL DEFAULT 0, should_sync INTEGER NOT NULL DEFAULT 1,
               group_is_read_only INTEGER NOT NULL DEFAULT 0, sync1 TEXT, sync2 TEXT, sync3 TEXT, sync4 TEXT)""",
        )
        db.execSQL("CREATE INDEX groups_source_id_account_id_index ON groups (sourceid, account_type, account_name)")
        photoThread = HandlerThread("fake-contacts-photo").apply { start() }
        photoHandler = Handler(photoThread.looper)
        return true
    }

    /** Stops the photo thread (tests call it when done). */
    fun close() {
        photoThread.quitSafely()
    }

    private fun checkAccess() {
        if (permissionDenied) throw SecurityException("Permission Denial: requires android.permission.WRITE_CONTACTS")
    }

    private fun isSyncAdapter(uri: Uri) = uri.getBooleanQueryParameter(ContactsContract.CALLER_IS_SYNCADAPTER, false)

    private fun match(uri: Uri): Int {
        val m = matcher.match(uri)
        if (m == UriMatcher.NO_MATCH) throw IllegalArgumentException("Unknown URI $uri")
        return m
    }

    /** appendAccountToSelection: account parameters on the URI restrict what it reaches. */
    private fun withAccount(uri: Uri, selection: String?, args: Array<String>?): Pair<String?, Array<String>?> {
        val name = uri.getQueryParameter(RawContacts.ACCOUNT_NAME)
        val type = uri.getQueryParameter(RawContacts.ACCOUNT_TYPE)
        if (name.isNullOrEmpty()) return selection to args
        val where = "account_name = ? AND account_type = ?" + if (selection.isNullOrEmpty()) "" else " AND ($selection)"
        return where to (arrayOf(name, type ?: "") + (args ?: emptyArray()))
    }

    private fun and(selection: String?, clause: String) = if (selection.isNullOrEmpty()) clause else "($selection) AND $clause"

    private inline fun <T> transaction(block: () -> T): T {
        db.beginTransaction()
        try {
            val r = block()
            db.setTransactionSuccessful()
            return r
        } finally {
            db.endTransaction()
        }
    }

    private fun ids(table: String, selection: String?, args: Array<String>?): List<Long> =
        db.query(table, arrayOf("_id"), selection, args, null, null, "_id").use { c ->
            val out = ArrayList<Long>()
            while (c.moveToNext()) out += c.getLong(0)
            out
        }

    /** Rule 1: a plain (non-sync-adapter) data write marks its raw contact dirty; every data change bumps VERSION (rule 8c). */
    private fun dataChanged(rawId: Long, syncAdapter: Boolean) {
        val dirty = if (syncAdapter) "" else ", dirty = 1"
        db.execSQL("UPDATE raw_contacts SET version = version + 1$dirty WHERE _id = ?", arrayOf(rawId))
    }

    // ---- query ------------------------------------------------------------------------

    override fun query(uri: Uri, projection: Array<String>?, selection: String?, args: Array<String>?, sortOrder: String?): Cursor? {
        queryGate?.let { gate ->
            queryEntered.countDown()
            gate.await(60, TimeUnit.SECONDS)
        }
        if (dead) return null
        checkAccess()
        // sortOrder may end in "LIMIT n OFFSET m" (ContactsContractStore pages that way); the
        // provider pastes it after ORDER BY, which SQLite accepts.
        return when (match(uri)) {
            RAW_CONTACTS -> withAccount(uri, selection, args).let { (s, a) -> db.query("raw_contacts", projection, s, a, null, null, sortOrder) }
            RAW_CONTACTS_ID -> withAccount(uri, and(selection, "_id = ${ContentUris.parseId(uri)}"), args)
                .let { (s, a) -> db.query("raw_contacts", projection, s, a, null, null, sortOrder) }
            DATA -> withAccount(uri, selection, args).let { (s, a) -> db.query("view_data", projection, s, a, null, null, sortOrder) }
            RAW_CONTACTS_ID_DATA -> withAccount(uri, and(selection, "raw_contact_id = ${uri.pathSegments[1].toLong()}"), args)
                .let { (s, a) -> db.query("view_data", projection, s, a, null, null, sortOrder) }
            DATA_ID -> db.query("view_data", projection, and(selection, "_id = ${ContentUris.parseId(uri)}"), args, null, null, sortOrder)
            SETTINGS -> db.query("settings", projection, selection, args, null, null, sortOrder)
            GROUPS -> withAccount(uri, selection, args).let { (s, a) -> db.query("groups", projection, s, a, null, null, sortOrder) }
            GROUPS_ID -> withAccount(uri, and(selection, "_id = ${ContentUris.parseId(uri)}"), args)
                .let { (s, a) -> db.query("groups", projection, s, a, null, null, sortOrder) }
            else -> throw IllegalArgumentException("Unknown URI $uri")
        }
    }

    override fun getType(uri: Uri): String? = when (matcher.match(uri)) {
        RAW_CONTACTS -> RawContacts.CONTENT_TYPE
        RAW_CONTACTS_ID -> RawContacts.CONTENT_ITEM_TYPE
        DATA, RAW_CONTACTS_ID_DATA -> Data.CONTENT_TYPE
        else -> null
    }

    // ---- insert -----------------------------------------------------------------------

    override fun insert(uri: Uri, values: ContentValues?): Uri? {
        checkAccess()
        return transaction { insertLocal(uri, ContentValues(values ?: ContentValues())) }
    }

    private fun insertLocal(uri: Uri, values: ContentValues): Uri {
        val sa = isSyncAdapter(uri)
        return when (match(uri)) {
            RAW_CONTACTS -> {
                // The account comes from the values or the URI; both given, they must agree.
                for (col in listOf(RawContacts.ACCOUNT_NAME, RawContacts.ACCOUNT_TYPE)) {
                    val fromUri = uri.getQueryParameter(col)
                    if (fromUri != null) {
                        val fromValues = values.getAsString(col)
                        require(fromValues == null || fromValues == fromUri) { "account in the URI and the values differ" }
                        values.put(col, fromUri)
                    }
                }
                // Rule 1: a bare raw contact insert is not dirty, whoever inserts it.
                val id = db.insertOrThrow("raw_contacts", null, values)
                ContentUris.withAppendedId(RawContacts.CONTENT_URI, id)
            }
            DATA, RAW_CONTACTS_ID_DATA -> {
                if (match(uri) == RAW_CONTACTS_ID_DATA) values.put(Data.RAW_CONTACT_ID, uri.pathSegments[1].toLong())
                val rawId = values.getAsLong(Data.RAW_CONTACT_ID) ?: throw IllegalArgumentException("raw_contact_id is required")
                require(!values.getAsString(Data.MIMETYPE).isNullOrEmpty()) { "mimetype is required" }
                require(ids("raw_contacts", "_id = ?", arrayOf(rawId.toString())).isNotEmpty()) { "no raw contact $rawId" }
                if (values.getAsString(Data.MIMETYPE) == GroupMembership.CONTENT_ITEM_TYPE) resolveGroupSourceId(rawId, values)
                // Rule 6 / 8a: any caller may add a row of any mimetype to any raw contact,
                // read-only or not; a plain caller's insert marks it dirty.
                // Rule 8f: a row inserted primary (or super primary) takes both flags from the
                // raw contact's other rows of its mimetype (DataRowHandler.insert).
                val primary = (values.getAsInteger(Data.IS_PRIMARY) ?: 0) != 0
                val superPrimary = (values.getAsInteger(Data.IS_SUPER_PRIMARY) ?: 0) != 0
                if (primary || superPrimary) {
                    val cleared = ContentValues().apply { put(Data.IS_PRIMARY, 0); put(Data.IS_SUPER_PRIMARY, 0) }
                    db.update("data", cleared, "raw_contact_id = ? AND mimetype = ?", arrayOf(rawId.toString(), values.getAsString(Data.MIMETYPE)))
                    values.put(Data.IS_PRIMARY, 1)
                }
                val id = db.insertOrThrow("data", null, values)
                dataChanged(rawId, sa)
                ContentUris.withAppendedId(Data.CONTENT_URI, id)
            }
            SETTINGS -> {
                db.insertWithOnConflict("settings", null, values, SQLiteDatabase.CONFLICT_REPLACE)
                ContactsContract.Settings.CONTENT_URI
            }
            GROUPS -> {
                for (col in listOf(Groups.ACCOUNT_NAME, Groups.ACCOUNT_TYPE)) uri.getQueryParameter(col)?.let { values.put(col, it) }
                // Rule 9: a plain caller's insert is dirty.
                if (!sa) values.put(Groups.DIRTY, 1)
                ContentUris.withAppendedId(Groups.CONTENT_URI, db.insertOrThrow("groups", null, values))
            }
            else -> throw IllegalArgumentException("Cannot insert into $uri")
        }
    }

    // ---- update -----------------------------------------------------------------------

    override fun update(uri: Uri, values: ContentValues?, selection: String?, args: Array<String>?): Int {
        checkAccess()
        return transaction { updateLocal(uri, ContentValues(values ?: ContentValues()), selection, args) }
    }

    private fun updateLocal(uri: Uri, values: ContentValues, selection: String?, args: Array<String>?): Int {
        val sa = isSyncAdapter(uri)
        return when (match(uri)) {
            RAW_CONTACTS, RAW_CONTACTS_ID -> {
                var where = if (match(uri) == RAW_CONTACTS_ID) and(selection, "_id = ${ContentUris.parseId(uri)}") else selection
                // Rule 8a: plain callers cannot update read-only raw contacts (0 rows, no error).
                if (!sa) where = and(where, "raw_contact_is_read_only = 0")
                val (s, a) = withAccount(uri, where, args)
                val targets = ids("raw_contacts", s, a)
                for (id in targets) {
                    val old = rawContact(id)!!
                    db.update("raw_contacts", values, "_id = ?", arrayOf(id.toString()))
                    // Rule 8c: VERSION moves when DELETED flips, not for sync columns.
                    val deleted = values.getAsInteger(RawContacts.DELETED)
                    if (deleted != null && deleted != old.deleted) db.execSQL("UPDATE raw_contacts SET version = version + 1 WHERE _id = ?", arrayOf(id))
                    // Rule 1: a plain update marks dirty only for STARRED or an account change.
                    if (!sa && (values.containsKey(RawContacts.STARRED) || values.containsKey(RawContacts.ACCOUNT_NAME) || values.containsKey(RawContacts.ACCOUNT_TYPE))) {
                        db.execSQL("UPDATE raw_contacts SET dirty = 1 WHERE _id = ?", arrayOf(id))
                    }
                }
                targets.size
            }
            DATA, DATA_ID -> {
                var where = if (match(uri) == DATA_ID) and(selection, "_id = ${ContentUris.parseId(uri)}") else selection
                // Rule 8a: plain callers cannot update read-only data rows (0 rows, no error).
                if (!sa) where = and(where, "is_read_only = 0")
                val (s, a) = withAccount(uri, where, args)
                val targets = ids("view_data", s, a)
                values.remove(Data._ID)
                values.remove(Data.RAW_CONTACT_ID)
                values.remove(Data.MIMETYPE)
                for (id in targets) {
                    val rawId = dataRow(id)!!.rawId
                    if (values.size() > 0) db.update("data", values, "_id = ?", arrayOf(id.toString()))
                    db.execSQL("UPDATE data SET data_version = data_version + 1 WHERE _id = ?", arrayOf(id))
                    dataChanged(rawId, sa)
                }
                targets.size
            }
            SETTINGS -> db.update("settings", values, selection, args)
            GROUPS, GROUPS_ID -> {
                val where = if (match(uri) == GROUPS_ID) and(selection, "_id = ${ContentUris.parseId(uri)}") else selection
                // Rule 9: a plain caller's update sets DIRTY unless it names it.
                if (!sa && !values.containsKey(Groups.DIRTY)) values.put(Groups.DIRTY, 1)
                val (s, a) = withAccount(uri, where, args)
                val targets = ids("groups", s, a)
                for (id in targets) db.update("groups", values, "_id = ?", arrayOf(id.toString()))
                targets.size
            }
            else -> throw IllegalArgumentException("Cannot update $uri")
        }
    }

    // ---- delete -----------------------------------------------------------------------

    override fun delete(uri: Uri, selection: String?, args: Array<String>?): Int {
        checkAccess()
        return transaction { deleteLocal(uri, selection, args) }
    }

    private fun deleteLocal(uri: Uri, selection: String?, args: Array<String>?): Int {
        val sa = isSyncAdapter(uri)
        return when (match(uri)) {
            RAW_CONTACTS, RAW_CONTACTS_ID -> {
                val where = if (match(uri) == RAW_CONTACTS_ID) and(selection, "_id = ${ContentUris.parseId(uri)}") else selection
                val (s, a) = withAccount(uri, where, args)
                val targets = ids("raw_contacts", s, a)
                for (id in targets) {
                    val raw = rawContact(id)!!
                    if (sa || raw.accountType == null) {
                        // Rule 3: a sync adapter's delete (or one of a device-local contact)
                        // removes the raw contact with its data rows and photo files.
                        dataRows(id).mapNotNull { it.photoFileId }.forEach(::deletePhotoFile)
                        db.delete("data", "raw_contact_id = ?", arrayOf(id.toString()))
                        db.delete("raw_contacts", "_id = ?", arrayOf(id.toString()))
                    } else {
                        // Rule 3: anyone else's delete is a tombstone for the sync adapter;
                        // the rows stay. Read-only flags do not block it (rule 8a).
                        db.execSQL("UPDATE raw_contacts SET deleted = 1, dirty = 1, version = version + 1 WHERE _id = ?", arrayOf(id))
                    }
                }
                targets.size
            }
            DATA, DATA_ID -> {
                val where = if (match(uri) == DATA_ID) and(selection, "_id = ${ContentUris.parseId(uri)}") else selection
                val (s, a) = withAccount(uri, where, args)
                val targets = ids("view_data", s, a)
                for (id in targets) {
                    val row = dataRow(id)!!
                    row.photoFileId?.let(::deletePhotoFile)
                    db.delete("data", "_id = ?", arrayOf(id.toString()))
                    // Rule 1 / 8a: not blocked by is_read_only; a plain delete marks dirty.
                    dataChanged(row.rawId, sa)
                }
                targets.size
            }
            GROUPS, GROUPS_ID -> {
                val where = if (match(uri) == GROUPS_ID) and(selection, "_id = ${ContentUris.parseId(uri)}") else selection
                val (s, a) = withAccount(uri, where, args)
                val targets = ids("groups", s, a)
                for (id in targets) {
                    // Rule 9 (deleteGroup): the memberships go whoever deletes, straight from
                    // the table (their raw contacts are not marked dirty); then the row goes
                    // (sync adapter) or becomes a tombstone.
                    db.delete("data", "mimetype = ? AND data1 = ?", arrayOf(GroupMembership.CONTENT_ITEM_TYPE, id.toString()))
                    if (sa) db.delete("groups", "_id = ?", arrayOf(id.toString()))
                    else db.execSQL("UPDATE groups SET deleted = 1, dirty = 1 WHERE _id = ?", arrayOf(id))
                }
                targets.size
            }
            else -> throw IllegalArgumentException("Cannot delete $uri")
        }
    }

    /**
     * Rule 9 (DataRowHandlerForGroupMembership.resolveGroupSourceIdInValues): a membership
     * row names its group by GROUP_SOURCE_ID or GROUP_ROW_ID, never both; by source id it
     * lands on the group of the raw contact's account with that SOURCE_ID, deleted or not,
     * or on a new one with only the account and SOURCE_ID.
     */
    private fun resolveGroupSourceId(rawId: Long, values: ContentValues) {
        val sourceId = values.getAsString(GroupMembership.GROUP_SOURCE_ID)
        if (values.containsKey(GroupMembership.GROUP_SOURCE_ID) && values.containsKey(GroupMembership.GROUP_ROW_ID)) {
            throw IllegalArgumentException("you are not allowed to set both the GroupMembership.GROUP_SOURCE_ID and GroupMembership.GROUP_ROW_ID")
        }
        if (sourceId == null) return
        val raw = rawContact(rawId)!!
        val found = db.query(
            "groups", arrayOf("_id"), "sourceid = ? AND account_type IS ? AND account_name IS ?",
            arrayOf(sourceId, raw.accountType, raw.accountName), null, null, "_id",
        ).use { c -> if (c.moveToFirst()) c.getLong(0) else null }
        val group = found ?: db.insertOrThrow(
            "groups", null,
            ContentValues().apply {
                put(Groups.ACCOUNT_TYPE, raw.accountType)
                put(Groups.ACCOUNT_NAME, raw.accountName)
                put(Groups.SOURCE_ID, sourceId)
            },
        )
        values.remove(GroupMembership.GROUP_SOURCE_ID)
        values.put(GroupMembership.GROUP_ROW_ID, group)
    }

    // ---- applyBatch -------------------------------------------------------------------

    /**
     * AbstractContactsProvider.applyBatch (rule 5): one transaction; the counter is raised
     * before it is checked, so the 500th operation since the start or the last yield point
     * fails the whole batch. A yield point commits what came before it (the worst case of
     * yieldIfContendedSafely).
     */
    override fun applyBatch(operations: ArrayList<ContentProviderOperation>): Array<ContentProviderResult> {
        batchSizes += operations.size
        if (dead) throw DeadObjectException()
        maxOperationsPerTransaction?.let { max ->
            if (operations.size > max) throw TransactionTooLargeException("data parcel size too large for $max operations")
        }
        checkAccess()
        db.beginTransaction()
        try {
            val results = arrayOfNulls<ContentProviderResult>(operations.size)
            var opCount = 0
            for (i in operations.indices) {
                if (++opCount >= MAX_OPERATIONS_PER_YIELD_POINT) {
                    throw OperationApplicationException(
                        "Too many content provider operations between yield points. " +
                            "The maximum number of operations per yield point is $MAX_OPERATIONS_PER_YIELD_POINT",
                        0,
                    )
                }
                val op = operations[i]
                if (i > 0 && op.isYieldAllowed) {
                    opCount = 0
                    db.setTransactionSuccessful()
                    db.endTransaction()
                    db.beginTransaction()
                }
                if (revokeAtOperation == i) throw SecurityException("Permission Denial: WRITE_CONTACTS was revoked")
                results[i] = op.apply(this, results, i)
            }
            db.setTransactionSuccessful()
            @Suppress("UNCHECKED_CAST")
            return results as Array<ContentProviderResult>
        } finally {
            db.endTransaction()
        }
    }

    // ---- photos -----------------------------------------------------------------------

    private fun photoFile(id: Long) = File(photoDir, "$id.jpg")

    private fun deletePhotoFile(id: Long) {
        photoFile(id).delete()
        db.delete("photo_files", "_id = ?", arrayOf(id.toString()))
    }

    /** The raw contact's photo row, primary first (openAssetFileInner's choice). */
    private fun primaryPhoto(rawId: Long): DataRow? =
        dataRows(rawId).filter { it.mimetype == Photo.CONTENT_ITEM_TYPE }.maxByOrNull { it.isPrimary }

    /**
     * Rule 2. Reading gives the stored file (FileNotFoundException without one). Writing
     * gives a file whose processing starts when the writer closes it, on another thread,
     * where the real provider reads a pipe in an AsyncTask: the Photo row is then updated
     * or inserted through plain URIs, marking the raw contact dirty whatever the caller's
     * URI said.
     */
    override fun openAssetFile(uri: Uri, mode: String): AssetFileDescriptor? {
        checkAccess()
        if (matcher.match(uri) != RAW_CONTACTS_ID_DISPLAY_PHOTO) throw FileNotFoundException("no file at $uri")
        val rawId = uri.pathSegments[1].toLong()
        val photo = primaryPhoto(rawId)
        if (!mode.contains("w")) {
            val fileId = photo?.photoFileId ?: 0
            val file = photoFile(fileId)
            if (fileId == 0L || !file.exists()) throw FileNotFoundException("No photo file found for ID $fileId")
            return AssetFileDescriptor(ParcelFileDescriptor.open(file, ParcelFileDescriptor.MODE_READ_ONLY), 0, file.length())
        }
        if (photoFailure == PhotoFailure.OPEN) throw FileNotFoundException("cannot create the photo file")
        val upload = File.createTempFile("upload", ".tmp", photoDir)
        val dataId = photo?.id ?: 0
        photosInFlight.incrementAndGet()
        val pfd = ParcelFileDescriptor.open(
            upload,
            ParcelFileDescriptor.MODE_READ_WRITE or ParcelFileDescriptor.MODE_CREATE or ParcelFileDescriptor.MODE_TRUNCATE,
            photoHandler,
        ) { processPhoto(rawId, dataId, upload) }
        return AssetFileDescriptor(pfd, 0, AssetFileDescriptor.UNKNOWN_LENGTH)
    }

    /** PipeMonitor.doInBackground: decode, store the file, then update or insert the Photo row as a plain caller. */
    private fun processPhoto(rawId: Long, dataId: Long, upload: File) {
        try {
            photoGate?.await(60, TimeUnit.SECONDS)
            val bytes = upload.readBytes()
            upload.delete()
            // BitmapFactory.decodeStream stand-in: the JDK's decoders. Undecodable → dropped, silently.
            if (photoFailure == PhotoFailure.PROCESSING || ImageIO.read(ByteArrayInputStream(bytes)) == null) return
            transaction {
                if (ids("raw_contacts", "_id = ?", arrayOf(rawId.toString())).isEmpty()) return@transaction
                val values = ContentValues()
                values.put("size", bytes.size)
                val fileId = db.insertOrThrow("photo_files", null, values)
                photoFile(fileId).writeBytes(bytes)
                val row = ContentValues().apply {
                    put(Photo.PHOTO_FILE_ID, fileId)
                    // The real PhotoProcessor stores a scaled-down JPEG here.
                    put(Photo.PHOTO, "thumbnail:${sha256(bytes).take(16)}".toByteArray())
                }
                if (dataId != 0L) {
                    val old = dataRow(dataId)
                    // A plain update: skipped when the row is read-only (rule 8a).
                    val n = updateLocal(ContentUris.withAppendedId(Data.CONTENT_URI, dataId), row, null, null)
                    if (n > 0) old?.photoFileId?.let(::deletePhotoFile) else deletePhotoFile(fileId)
                } else {
                    row.put(Data.MIMETYPE, Photo.CONTENT_ITEM_TYPE)
                    row.put(Data.IS_PRIMARY, 1)
                    insertLocal(Uri.withAppendedPath(ContentUris.withAppendedId(RawContacts.CONTENT_URI, rawId), RawContacts.Data.CONTENT_DIRECTORY), row)
                }
            }
        } catch (e: Throwable) {
            photoErrors += e
        } finally {
            photosInFlight.decrementAndGet()
        }
    }

    /** Waits until every photo written so far has been processed (or dropped). */
    fun awaitPhotos(timeoutMs: Long = 10_000) {
        val deadline = System.currentTimeMillis() + timeoutMs
        while (photosInFlight.get() > 0) {
            check(System.currentTimeMillis() < deadline) { "photo processing did not finish" }
            Thread.sleep(10)
        }
    }

    // ---- what tests read (straight from the tables, no hooks) --------------------------

    private fun rawRow(c: Cursor) = RawRow(
        c.getLong(0), c.getString(1), c.getString(2), c.getString(3), c.getString(4), c.getString(5),
        c.getInt(6), c.getInt(7), c.getInt(8), c.getInt(9),
    )

    private val rawColumns = arrayOf(
        "_id", "account_type", "account_name", "sourceid", "sync1", "sync2", "dirty", "deleted", "version", "raw_contact_is_read_only",
    )

    fun rawContacts(where: String? = null, vararg args: String): List<RawRow> =
        db.query("raw_contacts", rawColumns, where, args.takeIf { it.isNotEmpty() }?.let { arrayOf(*it) }, null, null, "_id").use { c ->
            val out = ArrayList<RawRow>()
            while (c.moveToNext()) out += rawRow(c)
            out
        }

    fun rawContact(id: Long): RawRow? = rawContacts("_id = ?", id.toString()).singleOrNull()

    private val dataColumns = arrayOf("_id", "raw_contact_id", "mimetype", "is_primary", "is_read_only", "data_version") + DATA_COLUMNS + "is_super_primary"

    private fun dataRowsWhere(where: String, args: Array<String>): List<DataRow> =
        db.query("data", dataColumns, where, args, null, null, "_id").use { c ->
            val out = ArrayList<DataRow>()
            while (c.moveToNext()) {
                out += DataRow(
                    c.getLong(0), c.getLong(1), c.getString(2),
                    (0 until 14).map { if (c.isNull(6 + it)) null else c.getString(6 + it) },
                    if (c.isNull(20)) null else c.getBlob(20),
                    c.getInt(3), c.getInt(4), c.getInt(5), c.getInt(21),
                )
            }
            out
        }

    fun dataRows(rawId: Long): List<DataRow> = dataRowsWhere("raw_contact_id = ?", arrayOf(rawId.toString()))

    fun dataRow(id: Long): DataRow? = dataRowsWhere("_id = ?", arrayOf(id.toString())).singleOrNull()

    fun photoBytes(fileId: Long): ByteArray? = photoFile(fileId).takeIf { it.exists() }?.readBytes()

    fun photoFileCount(): Int = db.query("photo_files", arrayOf("count(*)"), null, null, null, null, null).use { it.moveToFirst(); it.getInt(0) }

    /** (should_sync, ungrouped_visible) of an account's settings row. */
    fun settings(type: String, name: String): Pair<Int, Int>? =
        db.query("settings", arrayOf("should_sync", "ungrouped_visible"), "account_type = ? AND account_name = ?", arrayOf(type, name), null, null, null)
            .use { c -> if (c.moveToFirst()) c.getInt(0) to c.getInt(1) else null }

    /** One groups row, as a test reads it. */
    data class GroupRow(
        val id: Long, val accountType: String?, val sourceId: String?, val title: String?,
        val dirty: Int, val deleted: Int, val visible: Int, val readOnly: Int,
    )

    fun groups(): List<GroupRow> =
        db.query(
            "groups", arrayOf("_id", "account_type", "sourceid", "title", "dirty", "deleted", "group_visible", "group_is_read_only"),
            null, null, null, null, "_id",
        ).use { c ->
            val out = ArrayList<GroupRow>()
            while (c.moveToNext()) {
                out += GroupRow(c.getLong(0), c.getString(1), c.getString(2), c.getString(3), c.getInt(4), c.getInt(5), c.getInt(6), c.getInt(7))
            }
            out
        }

    /** The raw contact ids with a membership row in group [groupId]. */
    fun members(groupId: Long): List<Long> =
        dataRowsWhere("mimetype = ? AND data1 = ?", arrayOf(GroupMembership.CONTENT_ITEM_TYPE, groupId.toString())).map { it.rawId }

    /** Everything in the tables, for "nothing changed" assertions. */
    fun snapshot(): String {
        val sb = StringBuilder()
        rawContacts().forEach { sb.append(it).append('\n') }
        groups().forEach { sb.append(it).append('\n') }
        db.query("data", dataColumns, null, null, null, null, "_id").use { c ->
            while (c.moveToNext()) {
                sb.append((0 until c.columnCount).joinToString("|") { i -> if (c.getType(i) == Cursor.FIELD_TYPE_BLOB) sha256(c.getBlob(i)) else c.getString(i) ?: "null" }).append('\n')
            }
        }
        return sb.toString()
    }
}
