package app.contactsagent.android

import android.Manifest
import android.accounts.Account
import android.content.ContentProviderOperation
import android.content.ContentResolver
import android.content.ContentUris
import android.content.ContentValues
import android.content.Context
import android.content.pm.PackageManager
import android.database.Cursor
import android.net.Uri
import android.os.DeadObjectException
import android.os.TransactionTooLargeException
import android.provider.ContactsContract
import android.provider.ContactsContract.CommonDataKinds.Photo
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.RawContacts
import android.util.Log
import android.accounts.AccountManager
import android.provider.ContactsContract.CommonDataKinds.GroupMembership
import app.contactsagent.sdk.BridgeCodec
import app.contactsagent.sdk.BridgeRow
import app.contactsagent.sdk.ContactStoreBridge
import app.contactsagent.sdk.ContactStorePermissionException
import app.contactsagent.sdk.ContactStoreUnavailableException
import app.contactsagent.sdk.IndexRecord
import app.contactsagent.sdk.ManagedRecord
import app.contactsagent.sdk.PersonalRecord
import java.io.IOException

/**
 * ContactStoreBridge over ContactsProvider. Managed contacts are raw contacts of [account]
 * (SOURCE_ID = server id, SYNC1 = content hash, SYNC2 = hash of the photo the provider has
 * stored), written as the sync adapter and read-only for the user. It translates; the Rust
 * core decides.
 *
 * [photoWaitMs]: how long to wait for the provider to process a written photo (it does so in
 * the background after the file is closed; DAVx5 waits 7 s).
 */
class ContactsContractStore(
    private val context: Context,
    private val account: Account,
    private val photoWaitMs: Long = 7_000,
) : ContactStoreBridge {
    private val resolver: ContentResolver = context.contentResolver

    private val builder = OperationBuilder(account)

    private fun asSyncAdapter(uri: Uri): Uri = builder.asSyncAdapter(uri)

    private fun requirePermissions() {
        for (p in listOf(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)) {
            if (context.checkSelfPermission(p) != PackageManager.PERMISSION_GRANTED) throw ContactStorePermissionException()
        }
    }

    /**
     * Every entry point: the permission check, then the provider's own failures as the two
     * exceptions the core gives a meaning to. A SecurityException from the provider means the
     * permission was revoked while we ran; DeadObjectException that its process died (the
     * batch in flight was rolled back with it).
     */
    private inline fun <T> guarded(block: () -> T): T {
        requirePermissions()
        try {
            return block()
        } catch (e: ContactStorePermissionException) {
            throw e
        } catch (e: SecurityException) {
            throw ContactStorePermissionException(e)
        } catch (e: DeadObjectException) {
            throw ContactStoreUnavailableException(e)
        }
    }

    /**
     * ContentResolver.query answers null when the provider died (it swallows the
     * RemoteException): an empty answer would read as "no contacts here", so it is an error.
     */
    private fun query(uri: Uri, projection: Array<String>, selection: String, args: Array<String>, sort: String?): Cursor =
        resolver.query(uri, projection, selection, args, sort)
            ?: throw ContactStoreUnavailableException(null)

    /** Makes the account's contacts visible to the dialer and car Bluetooth. */
    fun ensureVisible() = guarded {
        val values = ContentValues().apply {
            put(ContactsContract.Settings.ACCOUNT_NAME, account.name)
            put(ContactsContract.Settings.ACCOUNT_TYPE, account.type)
            put(ContactsContract.Settings.SHOULD_SYNC, 1)
            put(ContactsContract.Settings.UNGROUPED_VISIBLE, 1)
        }
        resolver.insert(asSyncAdapter(ContactsContract.Settings.CONTENT_URI), values)
        Unit
    }

    override fun managedIndex(): ByteArray = guarded {
        val out = ArrayList<IndexRecord>()
        query(
            asSyncAdapter(RawContacts.CONTENT_URI),
            arrayOf(RawContacts._ID, RawContacts.SOURCE_ID, RawContacts.SYNC1, RawContacts.SYNC2, RawContacts.DIRTY, RawContacts.DELETED),
            "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.SOURCE_ID} IS NOT NULL",
            arrayOf(account.type, account.name), null,
        ).use { c ->
            while (c.moveToNext()) {
                out += IndexRecord(c.getLong(0), c.getString(1), c.getString(2), c.getString(3), dirty = c.getInt(4) != 0, deleted = c.getInt(5) != 0)
            }
        }
        BridgeCodec.encodeIndex(out)
    }

    /**
     * SOURCE_ID → _ID for the updates of a batch. SOURCE_ID is not unique in the provider; the
     * core removes duplicates before it updates, and should two still be there, the one
     * chosen is the one the core keeps (not deleted, then clean, then the lowest _ID),
     * never one the same batch deletes.
     */
    private fun rawIdsBySource(ids: List<String>, excluded: Set<Long>): Map<String, Long> {
        if (ids.isEmpty()) return emptyMap()
        val found = HashMap<String, Long>()
        ids.distinct().chunked(400).forEach { chunk ->
            val marks = chunk.joinToString(",") { "?" }
            query(
                asSyncAdapter(RawContacts.CONTENT_URI), arrayOf(RawContacts._ID, RawContacts.SOURCE_ID),
                "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.SOURCE_ID} IN ($marks)",
                arrayOf(account.type, account.name) + chunk,
                "${RawContacts.DELETED} DESC, ${RawContacts.DIRTY} DESC, ${RawContacts._ID} DESC",
            ).use { c ->
                // Best last: later rows overwrite earlier ones.
                while (c.moveToNext()) if (c.getLong(0) !in excluded) found[c.getString(1)] = c.getLong(0)
            }
        }
        return found
    }

    /**
     * Applies groups; on TransactionTooLargeException (the Binder parcel, ~1 MB) splits in
     * half at contact boundaries, back references being per group. Returns the raw contact
     * _ID each group inserted (null for the others), in order.
     */
    private fun apply(groups: List<List<ProviderOp>>): List<Long?> {
        if (groups.isEmpty()) return emptyList()
        val results = try {
            resolver.applyBatch(ContactsContract.AUTHORITY, builder.build(groups))
        } catch (e: TransactionTooLargeException) {
            if (groups.size == 1) throw e
            return apply(groups.subList(0, groups.size / 2)) + apply(groups.subList(groups.size / 2, groups.size))
        }
        val inserted = ArrayList<Long?>(groups.size)
        var index = 0
        for (group in groups) {
            inserted += if (group.firstOrNull() is ProviderOp.InsertRaw) results[index].uri?.let(ContentUris::parseId) else null
            index += group.size
        }
        return inserted
    }

    override fun applyBatch(ops: ByteArray) = guarded {
        val decoded = BridgeCodec.decodeOps(ops)
        val rawIds = rawIdsBySource(BatchTranslation.updatedIds(decoded), BatchTranslation.deletedRawIds(decoded))
        val translation = BatchTranslation.translate(decoded, rawIds)
        val inserted = apply(translation.groups)
        val photos = translation.photos.mapNotNull { p -> (p.rawId ?: inserted[p.group])?.let { PendingPhoto(it, p.hash, p.bytes) } }
        val failed = writePhotos(photos)
        // SYNC2 of those keeps its old value: the core sees the mismatch and sends them again.
        if (failed > 0) Log.w(TAG, "$failed contact photos were not stored; the next sync retries them")
    }

    private fun rawUri(rawId: Long): Uri = ContentUris.withAppendedId(RawContacts.CONTENT_URI, rawId)

    private fun displayPhotoUri(rawId: Long): Uri =
        Uri.withAppendedPath(rawUri(rawId), RawContacts.DisplayPhoto.CONTENT_DIRECTORY)

    private class PendingPhoto(val rawId: Long, val hash: String, val bytes: ByteArray) {
        var oldFiles: Set<Long> = emptySet()
    }

    /** raw contact _ID → (PHOTO_FILE_ID or 0, IS_READ_ONLY) of its Photo rows. */
    private fun photoRows(rawIds: Collection<Long>): Map<Long, List<Pair<Long, Boolean>>> {
        val out = HashMap<Long, MutableList<Pair<Long, Boolean>>>()
        rawIds.distinct().chunked(400).forEach { chunk ->
            query(
                Data.CONTENT_URI, arrayOf(Data.RAW_CONTACT_ID, Photo.PHOTO_FILE_ID, Data.IS_READ_ONLY),
                "${Data.MIMETYPE} = ? AND ${Data.RAW_CONTACT_ID} IN (${chunk.joinToString(",") { "?" }})",
                arrayOf(Photo.CONTENT_ITEM_TYPE) + chunk.map { it.toString() }, null,
            ).use { c ->
                while (c.moveToNext()) {
                    out.getOrPut(c.getLong(0)) { ArrayList() } += (if (c.isNull(1)) 0L else c.getLong(1)) to (c.getInt(2) != 0)
                }
            }
        }
        return out
    }

    /**
     * Writes each photo to its raw contact's display photo, never as a blob in a batch (the
     * 1 MB Binder limit). The provider processes a file in the background once its stream is
     * closed, writing the Photo row through plain (not sync-adapter) URIs, which marks the raw
     * contact DIRTY (docs/contacts-provider-model.md, rule 2). So, like DAVx5's
     * PhotoBuilder.insertPhoto: wait until the provider has stored a new photo file, then, as
     * the sync adapter, record its hash in SYNC2 and clear DIRTY. All files are written first
     * and then waited for together (the provider processes them in parallel). Returns how
     * many were refused or not processed within [photoWaitMs] (their SYNC2 unchanged).
     */
    private fun writePhotos(photos: List<PendingPhoto>): Int {
        if (photos.isEmpty()) return 0
        val rawIds = photos.map { it.rawId }
        val readOnly = photoRows(rawIds).filterValues { rows -> rows.any { it.second } }.keys
        for (rawId in readOnly) {
            // The provider updates an existing Photo row as a plain caller, which read-only
            // rows ignore (model rule 8a): remove such a row first so it inserts a new one.
            resolver.delete(
                asSyncAdapter(Data.CONTENT_URI),
                "${Data.RAW_CONTACT_ID} = ? AND ${Data.MIMETYPE} = ? AND ${Data.IS_READ_ONLY} = 1",
                arrayOf(rawId.toString(), Photo.CONTENT_ITEM_TYPE),
            )
        }
        val before = photoRows(rawIds)
        val pending = ArrayList<PendingPhoto>()
        for (p in photos) {
            p.oldFiles = before[p.rawId].orEmpty().map { it.first }.toSet()
            try {
                val fd = resolver.openAssetFileDescriptor(displayPhotoUri(p.rawId), "w") ?: continue
                fd.use { it.createOutputStream().use { out -> out.write(p.bytes) } }
                pending += p
            } catch (e: IOException) {
                // Refused (no space, a provider that takes no photos): SYNC2 stays.
            }
        }
        var stored = 0
        // System.nanoTime, not SystemClock: monotonic on a phone, and real time under Robolectric.
        val deadline = System.nanoTime() + photoWaitMs * 1_000_000
        while (pending.isNotEmpty()) {
            val now = photoRows(pending.map { it.rawId })
            val done = pending.filter { p -> now[p.rawId].orEmpty().any { it.first != 0L && it.first !in p.oldFiles } }
            for (p in done) {
                val values = ContentValues().apply {
                    put(RawContacts.SYNC2, p.hash)
                    put(RawContacts.DIRTY, 0)
                }
                resolver.update(
                    asSyncAdapter(rawUri(p.rawId)), values,
                    "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ?", arrayOf(account.type, account.name),
                )
            }
            stored += done.size
            pending.removeAll(done.toSet())
            if (pending.isEmpty() || System.nanoTime() - deadline >= 0) break
            Thread.sleep(PHOTO_POLL_MS)
        }
        return photos.size - stored
    }

    /** Each raw contact's data rows, columns as stored (the core reads the TYPE integers). */
    private fun dataRows(rawIds: List<Long>): Map<Long, List<BridgeRow>> {
        val rows = HashMap<Long, MutableList<BridgeRow>>()
        rawIds.chunked(400).forEach { chunk ->
            val marks = chunk.joinToString(",") { "?" }
            val cols = arrayOf(Data.RAW_CONTACT_ID, Data.MIMETYPE) + DATA_COLUMNS + Data.IS_PRIMARY
            query(Data.CONTENT_URI, cols, "${Data.RAW_CONTACT_ID} IN ($marks)", chunk.map { it.toString() }.toTypedArray(), Data._ID)
                .use { c ->
                    while (c.moveToNext()) {
                        val data = List(DATA_COLUMNS.size) { if (c.isNull(2 + it)) null else c.getString(2 + it) }
                        val primary = !c.isNull(12) && c.getInt(12) != 0
                        rows.getOrPut(c.getLong(0)) { ArrayList() } += BridgeRow(c.getString(1), data, primary)
                    }
                }
        }
        return rows
    }

    override fun managedGroups(): ByteArray = guarded { ContactGroups.managedGroups(resolver, account, ::asSyncAdapter) }

    override fun managedContacts(offset: Int, limit: Int): ByteArray = guarded {
        val heads = ArrayList<Triple<Long, String, Pair<String?, String?>>>()
        query(
            RawContacts.CONTENT_URI, arrayOf(RawContacts._ID, RawContacts.SOURCE_ID, RawContacts.SYNC1, RawContacts.SYNC2),
            "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.DELETED} = 0 AND ${RawContacts.SOURCE_ID} IS NOT NULL",
            arrayOf(account.type, account.name), "${RawContacts.SOURCE_ID}, ${RawContacts._ID} LIMIT $limit OFFSET $offset",
        ).use { c -> while (c.moveToNext()) heads += Triple(c.getLong(0), c.getString(1), c.getString(2) to c.getString(3)) }
        val rows = dataRows(heads.map { it.first })
        val groups = ContactGroups.ofContacts(resolver, account, ::asSyncAdapter, rows)
        BridgeCodec.encodeManaged(
            heads.map { (raw, id, hashes) ->
                ManagedRecord(id, hashes.first, hashes.second, rows[raw].orEmpty().filter { it.mimetype != GroupMembership.CONTENT_ITEM_TYPE }, groups[raw].orEmpty())
            },
        )
    }

    /**
     * Personal raw contacts with their account, STARRED, rows, the TITLE of each group their
     * membership rows point at, and the display photo: everything a backup keeps.
     */
    override fun personalPage(after: Long, limit: Int): ByteArray = guarded {
        class Head(val id: Long, val type: String?, val name: String?, val starred: Boolean)
        val heads = ArrayList<Head>()
        query(
            RawContacts.CONTENT_URI, arrayOf(RawContacts._ID, RawContacts.ACCOUNT_TYPE, RawContacts.ACCOUNT_NAME, RawContacts.STARRED),
            "(${RawContacts.ACCOUNT_TYPE} IS NULL OR ${RawContacts.ACCOUNT_TYPE} != ?) AND ${RawContacts.DELETED} = 0 AND ${RawContacts._ID} > ?",
            arrayOf(account.type, after.toString()), "${RawContacts._ID} LIMIT $limit",
        ).use { c -> while (c.moveToNext()) heads += Head(c.getLong(0), c.getString(1), c.getString(2), !c.isNull(3) && c.getInt(3) != 0) }
        val rows = dataRows(heads.map { it.id })
        val memberships = rows.values.flatten().filter { it.mimetype == GroupMembership.CONTENT_ITEM_TYPE }
        val titles = ContactGroups.titles(resolver, memberships.mapNotNull { it.data[0]?.toLongOrNull() })
        BridgeCodec.encodePersonal(
            heads.map { h ->
                val (member, data) = rows[h.id].orEmpty().partition { it.mimetype == GroupMembership.CONTENT_ITEM_TYPE }
                val groups = member.mapNotNull { r -> r.data[0]?.toLongOrNull()?.let { titles[it] } }
                PersonalRecord(h.id, h.type, h.name, h.starred, data, groups, readDisplayPhoto(h.id))
            },
        )
    }

    /**
     * Accounts personal contacts may go back into: those AccountManager shows this app, and
     * those raw contacts already live in (an account another app keeps hidden from us still
     * holds contacts we can read), ours excepted.
     */
    override fun personalAccounts(): ByteArray = guarded {
        val found = LinkedHashSet<Pair<String, String>>()
        AccountManager.get(context).accounts.forEach { found += it.type to it.name }
        query(
            RawContacts.CONTENT_URI, arrayOf(RawContacts.ACCOUNT_TYPE, RawContacts.ACCOUNT_NAME),
            "${RawContacts.ACCOUNT_TYPE} IS NOT NULL AND ${RawContacts.ACCOUNT_TYPE} != ?", arrayOf(account.type), null,
        ).use { c -> while (c.moveToNext()) found += c.getString(0) to (c.getString(1) ?: "") }
        BridgeCodec.encodeAccounts(found.filter { it.first != account.type }.sortedWith(compareBy({ it.first }, { it.second })))
    }

    private fun readDisplayPhoto(rawId: Long): ByteArray? = try {
        resolver.openAssetFileDescriptor(displayPhotoUri(rawId), "r")?.use { fd -> fd.createInputStream().use { it.readBytes() } }
    } catch (e: java.io.FileNotFoundException) {
        null
    }

    override fun insertPersonal(contacts: ByteArray) = guarded {
        val insert = BridgeCodec.decodePersonalInsert(contacts)
        val type = insert.accountType
        val name = if (type == null) null else insert.accountName
        check(type != this.account.type) { "personal contacts never go into the managed account" }
        // Groups first (found or made by title in that account), so the batch only inserts.
        val groupIds = insert.contacts.flatMap { it.groupTitles }.distinct().associateWith { ContactGroups.findOrMake(resolver, type, name, it) }
        val ops = ArrayList<ContentProviderOperation>()
        val photos = ArrayList<Pair<Int, ByteArray>>()
        for (c in insert.contacts) {
            val start = ops.size
            c.photo?.let { photos += start to it }
            ops += ContentProviderOperation.newInsert(RawContacts.CONTENT_URI)
                .withValue(RawContacts.ACCOUNT_TYPE, type)
                .withValue(RawContacts.ACCOUNT_NAME, name)
                .withValue(RawContacts.STARRED, if (c.starred) 1 else 0)
                .build()
            for (row in c.rows) {
                val b = ContentProviderOperation.newInsert(Data.CONTENT_URI)
                    .withValueBackReference(Data.RAW_CONTACT_ID, start)
                    .withValue(Data.MIMETYPE, row.mimetype)
                if (row.primary) b.withValue(Data.IS_PRIMARY, 1).withValue(Data.IS_SUPER_PRIMARY, 1)
                row.data.forEachIndexed { k, v -> b.withValue(DATA_COLUMNS[k], v) }
                ops += b.build()
            }
            for (title in c.groupTitles) {
                ops += ContentProviderOperation.newInsert(Data.CONTENT_URI)
                    .withValueBackReference(Data.RAW_CONTACT_ID, start)
                    .withValue(Data.MIMETYPE, GroupMembership.CONTENT_ITEM_TYPE)
                    .withValue(GroupMembership.GROUP_ROW_ID, groupIds.getValue(title))
                    .build()
            }
        }
        // All or nothing per call, like the core asks (it sends at most 499 operations).
        val results = resolver.applyBatch(ContactsContract.AUTHORITY, ops)
        for ((index, bytes) in photos) {
            val raw = results[index].uri ?: continue
            try {
                resolver.openAssetFileDescriptor(Uri.withAppendedPath(raw, RawContacts.DisplayPhoto.CONTENT_DIRECTORY), "w")
                    ?.use { fd -> fd.createOutputStream().use { it.write(bytes) } }
            } catch (e: IOException) {
                Log.w(TAG, "a restored contact's photo was not stored")
            }
        }
    }

    private companion object {
        const val TAG = "ContactsAgent"
        const val PHOTO_POLL_MS = 50L
    }
}
