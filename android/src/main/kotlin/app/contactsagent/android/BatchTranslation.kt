package app.contactsagent.android

import app.contactsagent.sdk.BridgeFormat
import app.contactsagent.sdk.BridgeOp

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
    fun updatedIds(ops: List<BridgeOp>): List<String> =
        ops.filterIsInstance<BridgeOp.Write>().filter { it.update }.map { it.id }

    /** Raw contacts the batch deletes by _ID: an update never goes to one of these. */
    fun deletedRawIds(ops: List<BridgeOp>): Set<Long> =
        ops.filterIsInstance<BridgeOp.DeleteRaw>().map { it.rawId }.toSet()

    /** [rawIds]: SOURCE_ID → _ID of our account's raw contacts named by updates. */
    fun translate(ops: List<BridgeOp>, rawIds: Map<String, Long>): Translation {
        val groups = ArrayList<List<ProviderOp>>(ops.size)
        val photos = ArrayList<PhotoWrite>()
        for (op in ops) {
            when (op) {
                is BridgeOp.Delete -> groups.add(listOf(ProviderOp.DeleteBySource(op.id)))
                is BridgeOp.DeleteRaw -> groups.add(listOf(ProviderOp.DeleteRawById(op.rawId)))
                is BridgeOp.Write -> {
                    val rawId = if (op.update) rawIds[op.id] ?: throw IllegalStateException("no managed raw contact for an update") else null
                    val backRef = if (op.update) null else 0
                    val group = ArrayList<ProviderOp>(op.rows.size + op.groupSourceIds.size + 3)
                    if (rawId == null) {
                        group.add(ProviderOp.InsertRaw(op.id, op.hash))
                    } else {
                        val clear = op.photoAction == BridgeFormat.PHOTO_CLEAR
                        group.add(ProviderOp.UpdateRaw(rawId, op.hash, clearPhoto = clear))
                        val owned = op.ownedMimetypes.filter { it != PHOTO_MIMETYPE }.distinct()
                        if (owned.isEmpty()) throw IllegalArgumentException("an update without owned mimetypes")
                        group.add(ProviderOp.DeleteOwnedData(rawId, owned))
                        if (clear) group.add(ProviderOp.DeletePhoto(rawId))
                    }
                    op.rows.forEach { r -> group.add(ProviderOp.InsertData(rawId, backRef, r.mimetype, r.data, r.primary)) }
                    op.groupSourceIds.forEach { group.add(GroupOp.Member(rawId, backRef, it)) }
                    if (op.photoAction == BridgeFormat.PHOTO_SET) {
                        photos.add(PhotoWrite(groups.size, rawId, op.photoHash ?: "", op.photo ?: ByteArray(0)))
                    }
                    groups.add(group)
                }
                else -> groups.add(listOf(ContactGroups.translate(op) ?: throw IllegalArgumentException("unknown operation")))
            }
        }
        return Translation(groups, photos)
    }

    /** Provider operations a list of groups becomes (the core packs ≤ 499 per batch). */
    fun size(groups: List<List<ProviderOp>>): Int = groups.sumOf { it.size }
}
