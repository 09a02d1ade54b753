package app.contactsagent.android

import android.Manifest
import android.accounts.Account
import android.content.ContentProviderOperation
import android.content.ContentResolver
import android.content.ContentUris
import android.content.Context
import android.content.pm.PackageManager
import android.net.Uri
import android.os.DeadObjectException
import android.os.TransactionTooLargeException
import android.provider.ContactsContract
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.RawContacts
import app.contactsagent.sdk.ContactStoreBridge
import org.json.JSONArray
import org.json.JSONObject

/** READ_CONTACTS or WRITE_CONTACTS is missing: the run fails with this name in its status. */
class ContactsPermissionMissingException : SecurityException("contacts permission not granted")

/** The phone is busy or the provider process died: nothing was written, try again later. */
class ContactsProviderUnavailableException(cause: Throwable) : IllegalStateException("contacts provider unavailable", cause)

/**
 * ContactStoreBridge over ContactsProvider. Managed contacts are raw contacts of [account]
 * (SOURCE_ID = server id, SYNC1 = content hash, SYNC2 = photo hash), written as the sync
 * adapter and read-only for the user. It translates; the Rust core decides.
 */
class ContactsContractStore(private val context: Context, private val account: Account) : ContactStoreBridge {
    private val resolver: ContentResolver = context.contentResolver

    private val builder = OperationBuilder(account)

    private fun asSyncAdapter(uri: Uri): Uri = builder.asSyncAdapter(uri)

    private fun requirePermissions() {
        for (p in listOf(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)) {
            if (context.checkSelfPermission(p) != PackageManager.PERMISSION_GRANTED) throw ContactsPermissionMissingException()
        }
    }

    /** Makes the account's contacts visible to the dialer and car Bluetooth. */
    fun ensureVisible() {
        requirePermissions()
        val values = android.content.ContentValues().apply {
            put(ContactsContract.Settings.ACCOUNT_NAME, account.name)
            put(ContactsContract.Settings.ACCOUNT_TYPE, account.type)
            put(ContactsContract.Settings.SHOULD_SYNC, 1)
            put(ContactsContract.Settings.UNGROUPED_VISIBLE, 1)
        }
        resolver.insert(asSyncAdapter(ContactsContract.Settings.CONTENT_URI), values)
    }

    override fun managedIndex(): ByteArray {
        requirePermissions()
        val out = JSONArray()
        resolver.query(
            asSyncAdapter(RawContacts.CONTENT_URI),
            arrayOf(RawContacts.SOURCE_ID, RawContacts.SYNC1, RawContacts.SYNC2, RawContacts.DIRTY, RawContacts.DELETED),
            "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.SOURCE_ID} IS NOT NULL",
            arrayOf(account.type, account.name), null,
        )?.use { c ->
            while (c.moveToNext()) {
                val state = when {
                    c.getInt(4) != 0 -> "deleted"
                    c.getInt(3) != 0 -> "dirty"
                    else -> "clean"
                }
                out.put(JSONObject().put("id", c.getString(0)).put("hash", c.getString(1) ?: "")
                    .put("photo_hash", c.getString(2) ?: JSONObject.NULL).put("state", state))
            }
        }
        return out.toString().toByteArray()
    }

    private fun rawIdsBySource(ids: List<String>): Map<String, Long> {
        if (ids.isEmpty()) return emptyMap()
        val found = HashMap<String, Long>()
        ids.chunked(500).forEach { chunk ->
            val marks = chunk.joinToString(",") { "?" }
            resolver.query(
                asSyncAdapter(RawContacts.CONTENT_URI), arrayOf(RawContacts._ID, RawContacts.SOURCE_ID),
                "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.SOURCE_ID} IN ($marks)",
                arrayOf(account.type, account.name) + chunk, null,
            )?.use { c -> while (c.moveToNext()) found[c.getString(1)] = c.getLong(0) }
        }
        return found
    }

    /** Applies groups; on TransactionTooLargeException splits in half (at contact boundaries). */
    private fun apply(groups: List<List<ProviderOp>>) {
        if (groups.isEmpty()) return
        try {
            resolver.applyBatch(ContactsContract.AUTHORITY, builder.build(groups))
        } catch (e: TransactionTooLargeException) {
            if (groups.size == 1) throw e
            apply(groups.subList(0, groups.size / 2))
            apply(groups.subList(groups.size / 2, groups.size))
        } catch (e: DeadObjectException) {
            throw ContactsProviderUnavailableException(e)
        }
    }

    override fun applyBatch(ops: ByteArray) {
        requirePermissions()
        val json = JSONArray(String(ops))
        val translation = BatchTranslation.translate(json, rawIdsBySource(BatchTranslation.updatedIds(json)))
        apply(translation.groups)
        if (translation.photos.isEmpty()) return
        val ids = rawIdsBySource(translation.photos.map { it.sourceId })
        for (p in translation.photos) {
            val rawId = ids[p.sourceId] ?: continue
            val rawUri = ContentUris.withAppendedId(RawContacts.CONTENT_URI, rawId)
            val bytes = p.bytes
            if (bytes == null) {
                resolver.delete(
                    asSyncAdapter(Data.CONTENT_URI),
                    "${Data.RAW_CONTACT_ID} = ? AND ${Data.MIMETYPE} = ?",
                    arrayOf(rawId.toString(), ContactsContract.CommonDataKinds.Photo.CONTENT_ITEM_TYPE),
                )
            } else {
                // Never a blob in the batch (the 1 MB Binder limit): the display_photo file.
                val photoUri = Uri.withAppendedPath(rawUri, RawContacts.DisplayPhoto.CONTENT_DIRECTORY)
                resolver.openAssetFileDescriptor(photoUri, "rw")?.use { fd ->
                    fd.createOutputStream().use { it.write(bytes) }
                }
            }
        }
    }

    private fun dataRows(rawIds: List<Long>): Map<Long, JSONArray> {
        val rows = HashMap<Long, JSONArray>()
        rawIds.chunked(500).forEach { chunk ->
            val marks = chunk.joinToString(",") { "?" }
            val cols = arrayOf(Data.RAW_CONTACT_ID, Data.MIMETYPE) + (1..10).map { "data$it" }
            resolver.query(Data.CONTENT_URI, cols, "${Data.RAW_CONTACT_ID} IN ($marks)", chunk.map { it.toString() }.toTypedArray(), "${Data._ID}")
                ?.use { c ->
                    while (c.moveToNext()) {
                        val mime = c.getString(1)
                        val values = ProviderTypes.fromProvider(mime, (0 until 10).map { if (c.isNull(2 + it)) null else c.getString(2 + it) })
                        val data = JSONArray(values.map { it ?: JSONObject.NULL })
                        rows.getOrPut(c.getLong(0)) { JSONArray() }.put(JSONObject().put("mimetype", mime).put("data", data))
                    }
                }
        }
        return rows
    }

    override fun managedContacts(offset: Int, limit: Int): ByteArray {
        requirePermissions()
        val heads = ArrayList<Triple<Long, String, Pair<String?, String?>>>()
        resolver.query(
            RawContacts.CONTENT_URI, arrayOf(RawContacts._ID, RawContacts.SOURCE_ID, RawContacts.SYNC1, RawContacts.SYNC2),
            "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.DELETED} = 0",
            arrayOf(account.type, account.name), "${RawContacts.SOURCE_ID} LIMIT $limit OFFSET $offset",
        )?.use { c -> while (c.moveToNext()) heads += Triple(c.getLong(0), c.getString(1), c.getString(2) to c.getString(3)) }
        val rows = dataRows(heads.map { it.first })
        val out = JSONArray()
        for ((raw, id, hashes) in heads) {
            out.put(JSONObject().put("id", id).put("hash", hashes.first ?: "").put("photo_hash", hashes.second ?: JSONObject.NULL)
                .put("rows", rows[raw] ?: JSONArray()))
        }
        return out.toString().toByteArray()
    }

    override fun personalPage(after: Long, limit: Int): ByteArray {
        requirePermissions()
        val ids = ArrayList<Long>()
        resolver.query(
            RawContacts.CONTENT_URI, arrayOf(RawContacts._ID),
            "(${RawContacts.ACCOUNT_TYPE} IS NULL OR ${RawContacts.ACCOUNT_TYPE} != ?) AND ${RawContacts.DELETED} = 0 AND ${RawContacts._ID} > ?",
            arrayOf(account.type, after.toString()), "${RawContacts._ID} LIMIT $limit",
        )?.use { c -> while (c.moveToNext()) ids += c.getLong(0) }
        val rows = dataRows(ids)
        val out = JSONArray()
        for (id in ids) {
            val photo = readDisplayPhoto(id)
            out.put(JSONObject().put("raw_id", id).put("rows", rows[id] ?: JSONArray())
                .put("photo", photo?.let { java.util.Base64.getEncoder().encodeToString(it) } ?: JSONObject.NULL))
        }
        return out.toString().toByteArray()
    }

    private fun readDisplayPhoto(rawId: Long): ByteArray? = try {
        val uri = Uri.withAppendedPath(ContentUris.withAppendedId(RawContacts.CONTENT_URI, rawId), RawContacts.DisplayPhoto.CONTENT_DIRECTORY)
        resolver.openAssetFileDescriptor(uri, "r")?.use { fd -> fd.createInputStream().use { it.readBytes() } }
    } catch (e: java.io.FileNotFoundException) {
        null
    }

    override fun insertPersonal(account: String?, contacts: ByteArray) {
        requirePermissions()
        check(account != this.account.type) { "personal contacts never go into the managed account" }
        val items = JSONArray(String(contacts))
        val ops = ArrayList<ContentProviderOperation>()
        val photos = ArrayList<Pair<Int, ByteArray>>()
        for (i in 0 until items.length()) {
            val c = items.getJSONObject(i)
            val start = ops.size
            if (!c.isNull("photo")) photos += start to java.util.Base64.getDecoder().decode(c.getString("photo"))
            ops += ContentProviderOperation.newInsert(RawContacts.CONTENT_URI)
                .withValue(RawContacts.ACCOUNT_TYPE, account)
                // The host app names the account type; its accounts of that type share the name.
                .withValue(RawContacts.ACCOUNT_NAME, account)
                .build()
            val rows = c.getJSONArray("rows")
            for (r in 0 until rows.length()) {
                val row = rows.getJSONObject(r)
                val mime = row.getString("mimetype")
                val data = row.getJSONArray("data")
                val b = ContentProviderOperation.newInsert(Data.CONTENT_URI)
                    .withValueBackReference(Data.RAW_CONTACT_ID, start)
                    .withValue(Data.MIMETYPE, mime)
                ProviderTypes.toProvider(mime, (0 until 10).map { if (data.isNull(it)) null else data.getString(it) })
                    .forEachIndexed { k, v -> b.withValue("data${k + 1}", v) }
                ops += b.build()
            }
        }
        // All or nothing per call, like the core asks (it sends at most ~500 operations).
        val results = resolver.applyBatch(ContactsContract.AUTHORITY, ops)
        for ((index, bytes) in photos) {
            val raw = results[index].uri ?: continue
            resolver.openAssetFileDescriptor(Uri.withAppendedPath(raw, RawContacts.DisplayPhoto.CONTENT_DIRECTORY), "rw")
                ?.use { fd -> fd.createOutputStream().use { it.write(bytes) } }
        }
    }
}
