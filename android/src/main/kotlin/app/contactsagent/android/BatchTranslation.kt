package app.contactsagent.android

import org.json.JSONArray
import org.json.JSONObject

/**
 * Pure translation of one bridge batch (see ContactStoreBridge.applyBatch) into provider
 * operations, grouped per contact so a batch can be split at contact boundaries. No Android
 * classes here: ContactsContractStore turns these into ContentProviderOperations. Everything
 * is keyed by our account type + SOURCE_ID, or by a raw contact id that was looked up in
 * our account: nothing can reach another account's rows.
 */
sealed class ProviderOp {
    /** A raw contact in our account; [hash] goes to SYNC1, [photoHash] to SYNC2. */
    data class InsertRaw(val sourceId: String, val hash: String, val photoHash: String?) : ProviderOp()

    /** A data row of the raw contact inserted [backRef] operations earlier in the group, or of [rawId]. */
    data class InsertData(val rawId: Long?, val backRef: Int?, val mimetype: String, val data: List<String?>) : ProviderOp()

    /** Replaces hash (and photo hash) of an existing managed raw contact; clears DIRTY. */
    data class UpdateRaw(val rawId: Long, val hash: String, val photoHash: String?, val photoAction: String) : ProviderOp()

    /** Removes the data rows of one of our raw contacts before its new rows are inserted. */
    data class DeleteDataOf(val rawId: Long) : ProviderOp()

    /** Sync-adapter delete of our raw contact with this SOURCE_ID (tombstone included). */
    data class DeleteRaw(val sourceId: String) : ProviderOp()
}

/** A photo written through the raw contact's display_photo file after its batch commits. */
class PhotoWrite(val sourceId: String, val bytes: ByteArray?)

class Translation(val groups: List<List<ProviderOp>>, val photos: List<PhotoWrite>)

object BatchTranslation {
    /** Ids the batch updates: the store looks them up (one query) before translating. */
    fun updatedIds(ops: JSONArray): List<String> =
        (0 until ops.length()).map { ops.getJSONObject(it) }
            .filter { it.getString("op") == "update" }
            .map { it.getString("id") }

    /** [rawIds]: SOURCE_ID → _ID of our account's raw contacts named by updates. */
    fun translate(ops: JSONArray, rawIds: Map<String, Long>): Translation {
        val groups = ArrayList<List<ProviderOp>>()
        val photos = ArrayList<PhotoWrite>()
        for (i in 0 until ops.length()) {
            val op = ops.getJSONObject(i)
            val id = op.getString("id")
            when (op.getString("op")) {
                "delete" -> groups.add(listOf(ProviderOp.DeleteRaw(id)))
                "insert" -> {
                    val group = ArrayList<ProviderOp>()
                    group.add(ProviderOp.InsertRaw(id, op.getString("hash"), photoHash(op)))
                    rows(op).forEach { (mime, data) -> group.add(ProviderOp.InsertData(null, 0, mime, data)) }
                    groups.add(group)
                    photo(op, id)?.let(photos::add)
                }
                "update" -> {
                    val rawId = rawIds[id] ?: throw IllegalStateException("no managed raw contact for an update")
                    val group = ArrayList<ProviderOp>()
                    group.add(ProviderOp.UpdateRaw(rawId, op.getString("hash"), photoHash(op), op.getString("photo_action")))
                    group.add(ProviderOp.DeleteDataOf(rawId))
                    rows(op).forEach { (mime, data) -> group.add(ProviderOp.InsertData(rawId, null, mime, data)) }
                    groups.add(group)
                    photo(op, id)?.let(photos::add)
                }
                else -> throw IllegalArgumentException("unknown operation")
            }
        }
        return Translation(groups, photos)
    }

    private fun photoHash(op: JSONObject): String? =
        if (op.isNull("photo_hash")) null else op.getString("photo_hash")

    private fun photo(op: JSONObject, id: String): PhotoWrite? = when (op.getString("photo_action")) {
        "set" -> PhotoWrite(id, java.util.Base64.getDecoder().decode(op.getString("photo")))
        "clear" -> PhotoWrite(id, null)
        else -> null
    }

    private fun rows(op: JSONObject): List<Pair<String, List<String?>>> {
        val rows = op.getJSONArray("rows")
        return (0 until rows.length()).map { r ->
            val row = rows.getJSONObject(r)
            val data = row.getJSONArray("data")
            row.getString("mimetype") to (0 until 10).map { if (data.isNull(it)) null else data.getString(it) }
        }
    }

    /** Provider operations a list of groups becomes (for the ~450-operation batch cap). */
    fun size(groups: List<List<ProviderOp>>): Int = groups.sumOf { it.size }
}
