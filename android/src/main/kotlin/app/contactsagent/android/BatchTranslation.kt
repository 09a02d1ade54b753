package app.contactsagent.android

import org.json.JSONArray
import org.json.JSONObject

/**
 * Pure translation of one bridge batch (see ContactStoreBridge.applyBatch) into provider
 * operations, grouped per contact so a batch can be split at contact boundaries. No Android
 * classes here: ContactsContractStore turns these into ContentProviderOperations. Everything
 * is keyed by our account type + SOURCE_ID, or by a raw contact id that was looked up in
 * (or is checked against) our account: nothing can reach another account's rows.
 */
sealed class ProviderOp {
    /**
     * A raw contact in our account: SOURCE_ID = server id, SYNC1 = content hash. SYNC2 (the
     * photo hash) stays null here: it is set only once the photo file is stored.
     */
    data class InsertRaw(val sourceId: String, val hash: String) : ProviderOp()

    /**
     * A data row of the raw contact inserted [backRef] operations earlier in the group, or of
     * [rawId]. [primary]: the preferred phone or e-mail (IS_PRIMARY and IS_SUPER_PRIMARY).
     */
    data class InsertData(
        val rawId: Long?,
        val backRef: Int?,
        val mimetype: String,
        val data: List<String?>,
        val primary: Boolean = false,
    ) : ProviderOp()

    /**
     * New content hash of an existing managed raw contact; clears DIRTY. [clearPhoto] also
     * clears SYNC2. A photo `set` never touches SYNC2 here (it follows the file write).
     */
    data class UpdateRaw(val rawId: Long, val hash: String, val clearPhoto: Boolean) : ProviderOp()

    /**
     * Removes the raw contact's data rows of [mimetypes] (the ones the core writes) before
     * the new rows go in; the Photo row and other apps' rows stay.
     */
    data class DeleteOwnedData(val rawId: Long, val mimetypes: List<String>) : ProviderOp()

    /** photo_action `clear`: the raw contact's Photo row. */
    data class DeletePhoto(val rawId: Long) : ProviderOp()

    /** Sync-adapter delete of every raw contact of our account with this SOURCE_ID (tombstones included). */
    data class DeleteBySource(val sourceId: String) : ProviderOp()

    /** Sync-adapter delete of one raw contact by _ID, still restricted to our account. */
    data class DeleteRawById(val rawId: Long) : ProviderOp()
}

/**
 * A photo written through the raw contact's display_photo file after the batch commits.
 * [group] is the index of the contact's group; [rawId] is null for an insert (known once the
 * batch has run).
 */
class PhotoWrite(val group: Int, val rawId: Long?, val hash: String, val bytes: ByteArray)

class Translation(val groups: List<List<ProviderOp>>, val photos: List<PhotoWrite>)

object BatchTranslation {
    /** ContactsContract.CommonDataKinds.Photo.CONTENT_ITEM_TYPE: never ours to delete by mimetype. */
    const val PHOTO_MIMETYPE = "vnd.android.cursor.item/photo"

    /** Ids the batch updates by SOURCE_ID: the store looks them up (one query) before translating. */
    fun updatedIds(ops: JSONArray): List<String> =
        objects(ops).filter { it.getString("op") == "update" && !it.has("raw_id") }.map { it.getString("id") }

    /** Raw contacts the batch deletes by _ID: an update never goes to one of these. */
    fun deletedRawIds(ops: JSONArray): Set<Long> =
        objects(ops).filter { it.getString("op") == "delete_raw" }.map { it.getLong("raw_id") }.toSet()

    /** [rawIds]: SOURCE_ID → _ID of our account's raw contacts named by updates. */
    fun translate(ops: JSONArray, rawIds: Map<String, Long>): Translation {
        val groups = ArrayList<List<ProviderOp>>()
        val photos = ArrayList<PhotoWrite>()
        for (op in objects(ops)) {
            when (op.getString("op")) {
                "delete" -> groups.add(listOf(ProviderOp.DeleteBySource(op.getString("id"))))
                "delete_raw" -> groups.add(listOf(ProviderOp.DeleteRawById(op.getLong("raw_id"))))
                "insert" -> {
                    val id = op.getString("id")
                    val group = ArrayList<ProviderOp>()
                    group.add(ProviderOp.InsertRaw(id, op.getString("hash")))
                    rows(op).forEach { r -> group.add(ProviderOp.InsertData(null, 0, r.mimetype, r.data, r.primary)) }
                    group.addAll(ContactGroups.members(op, null, 0))
                    photoSet(op)?.let { (hash, bytes) -> photos.add(PhotoWrite(groups.size, null, hash, bytes)) }
                    groups.add(group)
                }
                "update" -> {
                    val id = op.getString("id")
                    val rawId = if (op.has("raw_id")) op.getLong("raw_id")
                    else rawIds[id] ?: throw IllegalStateException("no managed raw contact for an update")
                    val action = op.getString("photo_action")
                    val owned = owned(op)
                    val group = ArrayList<ProviderOp>()
                    group.add(ProviderOp.UpdateRaw(rawId, op.getString("hash"), clearPhoto = action == "clear"))
                    if (owned.isNotEmpty()) group.add(ProviderOp.DeleteOwnedData(rawId, owned))
                    if (action == "clear") group.add(ProviderOp.DeletePhoto(rawId))
                    rows(op).forEach { r -> group.add(ProviderOp.InsertData(rawId, null, r.mimetype, r.data, r.primary)) }
                    group.addAll(ContactGroups.members(op, rawId, null))
                    photoSet(op)?.let { (hash, bytes) -> photos.add(PhotoWrite(groups.size, rawId, hash, bytes)) }
                    groups.add(group)
                }
                else -> groups.add(listOf(ContactGroups.translate(op) ?: throw IllegalArgumentException("unknown operation")))
            }
        }
        return Translation(groups, photos)
    }

    private fun objects(ops: JSONArray): List<JSONObject> = (0 until ops.length()).map { ops.getJSONObject(it) }

    /** The core's mimetypes, minus Photo whatever the core sends: the photo has its own path. */
    private fun owned(op: JSONObject): List<String> {
        val list = op.optJSONArray("owned_mimetypes") ?: throw IllegalArgumentException("an update without owned_mimetypes")
        return (0 until list.length()).map { list.getString(it) }.filter { it != PHOTO_MIMETYPE }.distinct()
    }

    private fun photoSet(op: JSONObject): Pair<String, ByteArray>? {
        if (op.getString("photo_action") != "set") return null
        return op.getString("photo_hash") to java.util.Base64.getDecoder().decode(op.getString("photo"))
    }

    private class Row(val mimetype: String, val data: List<String?>, val primary: Boolean)

    private fun rows(op: JSONObject): List<Row> {
        val rows = op.getJSONArray("rows")
        return (0 until rows.length()).map { r ->
            val row = rows.getJSONObject(r)
            val data = row.getJSONArray("data")
            Row(
                row.getString("mimetype"),
                (0 until 10).map { if (data.isNull(it)) null else data.getString(it) },
                row.optBoolean("primary", false),
            )
        }
    }

    /** Provider operations a list of groups becomes (the core packs ≤ 499 per batch). */
    fun size(groups: List<List<ProviderOp>>): Int = groups.sumOf { it.size }
}
