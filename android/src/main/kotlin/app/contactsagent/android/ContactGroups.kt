package app.contactsagent.android

import android.accounts.Account
import android.content.ContentProviderOperation
import android.content.ContentResolver
import android.content.ContentUris
import android.database.Cursor
import android.net.Uri
import android.provider.ContactsContract.CommonDataKinds.GroupMembership
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.Groups
import android.provider.ContactsContract.RawContacts
import app.contactsagent.sdk.BridgeCodec
import app.contactsagent.sdk.BridgeOp
import app.contactsagent.sdk.BridgeRow
import app.contactsagent.sdk.ContactStoreUnavailableException
import app.contactsagent.sdk.GroupRecord

/**
 * The contact groups of our account that stand for MDM groups (SOURCE_ID = the server's
 * group id, TITLE = its name): the bridge's group operations, the membership rows, and what
 * `managedGroups` reads. The core decides which groups to make, retitle or delete; this
 * copies columns. Every write and read is restricted to our account type + name.
 */
sealed class GroupOp : ProviderOp() {
    /** A group of our account, visible, read-only for apps, as the sync adapter (DIRTY 0). */
    data class Insert(val sourceId: String, val title: String) : GroupOp()

    /** New TITLE of our account's group [groupId]; clears DIRTY. */
    data class Rename(val groupId: Long, val title: String) : GroupOp()

    /** Sync-adapter delete of our account's group [groupId] (the provider drops its memberships). */
    data class Delete(val groupId: Long) : GroupOp()

    /** A membership row of the raw contact [rawId] (or the one [backRef] operations back) in the group with SOURCE_ID [sourceId]. */
    data class Member(val rawId: Long?, val backRef: Int?, val sourceId: String) : GroupOp()
}

object ContactGroups {
    /** The bridge's group operations (insert, rename, delete), or null for another op. */
    fun translate(op: BridgeOp): GroupOp? = when (op) {
        is BridgeOp.InsertGroup -> GroupOp.Insert(op.sourceId, op.title)
        is BridgeOp.RenameGroup -> GroupOp.Rename(op.groupId, op.title)
        is BridgeOp.DeleteGroup -> GroupOp.Delete(op.groupId)
        else -> null
    }

    /** [op] as a ContentProviderOperation of [account], [start] being its contact's first operation. */
    fun build(op: GroupOp, account: Account, asSyncAdapter: (Uri) -> Uri, start: Int): ContentProviderOperation {
        val ours = "${Groups.ACCOUNT_TYPE} = ? AND ${Groups.ACCOUNT_NAME} = ?"
        val groupsUri = asSyncAdapter(Groups.CONTENT_URI)
        return when (op) {
            // Visible so the Contacts app lists the members under it; read-only so it offers
            // no rename or delete (a hint: the provider does not enforce it).
            is GroupOp.Insert -> ContentProviderOperation.newInsert(groupsUri)
                .withValue(Groups.ACCOUNT_TYPE, account.type)
                .withValue(Groups.ACCOUNT_NAME, account.name)
                .withValue(Groups.SOURCE_ID, op.sourceId)
                .withValue(Groups.TITLE, op.title)
                .withValue(Groups.GROUP_VISIBLE, 1)
                .withValue(Groups.SHOULD_SYNC, 1)
                .withValue(Groups.GROUP_IS_READ_ONLY, 1)
                .build()
            is GroupOp.Rename -> ContentProviderOperation.newUpdate(ContentUris.withAppendedId(groupsUri, op.groupId))
                .withSelection(ours, arrayOf(account.type, account.name))
                .withValue(Groups.TITLE, op.title)
                .withValue(Groups.DIRTY, 0)
                .build()
            is GroupOp.Delete -> ContentProviderOperation.newDelete(groupsUri)
                .withSelection("${Groups._ID} = ? AND $ours", arrayOf(op.groupId.toString(), account.type, account.name))
                .build()
            // By SOURCE_ID: the provider finds the group of the raw contact's account (ours).
            is GroupOp.Member -> {
                val b = ContentProviderOperation.newInsert(asSyncAdapter(Data.CONTENT_URI))
                if (op.backRef != null) b.withValueBackReference(Data.RAW_CONTACT_ID, start + op.backRef)
                else b.withValue(Data.RAW_CONTACT_ID, op.rawId)
                b.withValue(Data.MIMETYPE, GroupMembership.CONTENT_ITEM_TYPE)
                    .withValue(GroupMembership.GROUP_SOURCE_ID, op.sourceId)
                    .withValue(Data.IS_READ_ONLY, 1)
                    .build()
            }
        }
    }

    private fun query(resolver: ContentResolver, uri: Uri, projection: Array<String>, selection: String, args: Array<String>): Cursor =
        resolver.query(uri, projection, selection, args, null) ?: throw ContactStoreUnavailableException(null)

    /** Group _ID → (SOURCE_ID, TITLE, DELETED, DIRTY) of our account's groups. */
    private fun groups(resolver: ContentResolver, account: Account, asSyncAdapter: (Uri) -> Uri): Map<Long, Array<Any?>> {
        val out = LinkedHashMap<Long, Array<Any?>>()
        query(
            resolver, asSyncAdapter(Groups.CONTENT_URI),
            arrayOf(Groups._ID, Groups.SOURCE_ID, Groups.TITLE, Groups.DELETED, Groups.DIRTY),
            "${Groups.ACCOUNT_TYPE} = ? AND ${Groups.ACCOUNT_NAME} = ?", arrayOf(account.type, account.name),
        ).use { c ->
            while (c.moveToNext()) out[c.getLong(0)] = arrayOf(c.getString(1), c.getString(2), c.getInt(3) != 0, c.getInt(4) != 0)
        }
        return out
    }

    /** `managedGroups`: our account's groups, tombstones included, with their live managed members. */
    fun managedGroups(resolver: ContentResolver, account: Account, asSyncAdapter: (Uri) -> Uri): ByteArray {
        val groups = groups(resolver, account, asSyncAdapter)
        val members = HashMap<Long, Int>()
        if (groups.isNotEmpty()) {
            val live = HashSet<Long>()
            query(
                resolver, asSyncAdapter(RawContacts.CONTENT_URI), arrayOf(RawContacts._ID),
                "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ? AND ${RawContacts.DELETED} = 0",
                arrayOf(account.type, account.name),
            ).use { c -> while (c.moveToNext()) live += c.getLong(0) }
            query(
                resolver, asSyncAdapter(Data.CONTENT_URI), arrayOf(Data.RAW_CONTACT_ID, GroupMembership.GROUP_ROW_ID),
                "${Data.MIMETYPE} = ?", arrayOf(GroupMembership.CONTENT_ITEM_TYPE),
            ).use { c ->
                while (c.moveToNext()) {
                    val group = c.getLong(1)
                    if (c.getLong(0) in live && group in groups) members[group] = (members[group] ?: 0) + 1
                }
            }
        }
        return BridgeCodec.encodeGroups(
            groups.map { (id, g) ->
                GroupRecord(id, g[0] as String?, g[1] as String?, dirty = g[3] as Boolean, deleted = g[2] as Boolean, members = (members[id] ?: 0).toLong())
            },
        )
    }

    /**
     * The groups of each managed contact in a `managedContacts` page: its membership rows
     * (GROUP_ROW_ID in DATA1) that point at a group of ours with a SOURCE_ID, as (SOURCE_ID, TITLE).
     */
    fun ofContacts(
        resolver: ContentResolver, account: Account, asSyncAdapter: (Uri) -> Uri, rows: Map<Long, List<BridgeRow>>,
    ): Map<Long, List<Pair<String, String?>>> {
        val groups = groups(resolver, account, asSyncAdapter)
        val out = HashMap<Long, MutableList<Pair<String, String?>>>()
        for ((raw, list) in rows) {
            for (row in list) {
                if (row.mimetype != GroupMembership.CONTENT_ITEM_TYPE) continue
                val g = row.data[0]?.toLongOrNull()?.let { groups[it] } ?: continue
                val sourceId = g[0] as String? ?: continue
                out.getOrPut(raw) { ArrayList() } += sourceId to (g[1] as String? ?: "")
            }
        }
        return out
    }

    /** TITLE of each group _ID (any account): a personal contact's memberships as the backup names them. */
    fun titles(resolver: ContentResolver, ids: Collection<Long>): Map<Long, String?> {
        val out = HashMap<Long, String?>()
        ids.distinct().chunked(400).forEach { chunk ->
            query(
                resolver, Groups.CONTENT_URI, arrayOf(Groups._ID, Groups.TITLE),
                "${Groups._ID} IN (${chunk.joinToString(",") { "?" }})", chunk.map { it.toString() }.toTypedArray(),
            ).use { c -> while (c.moveToNext()) out[c.getLong(0)] = c.getString(1) }
        }
        return out
    }

    /**
     * The _ID of the live group titled [title] in the account (type null: device-local), made
     * (visible, as an app) when there is none: a restored contact goes back into its groups.
     */
    fun findOrMake(resolver: ContentResolver, type: String?, name: String?, title: String): Long {
        val (where, args) = if (type == null) {
            "${Groups.ACCOUNT_TYPE} IS NULL AND ${Groups.TITLE} = ? AND ${Groups.DELETED} = 0" to arrayOf(title)
        } else {
            "${Groups.ACCOUNT_TYPE} = ? AND ${Groups.ACCOUNT_NAME} = ? AND ${Groups.TITLE} = ? AND ${Groups.DELETED} = 0" to arrayOf(type, name ?: "", title)
        }
        query(resolver, Groups.CONTENT_URI, arrayOf(Groups._ID), where, args).use { c -> if (c.moveToFirst()) return c.getLong(0) }
        val values = android.content.ContentValues().apply {
            put(Groups.ACCOUNT_TYPE, type)
            put(Groups.ACCOUNT_NAME, if (type == null) null else name ?: "")
            put(Groups.TITLE, title)
            put(Groups.GROUP_VISIBLE, 1)
        }
        val uri = resolver.insert(Groups.CONTENT_URI, values) ?: throw ContactStoreUnavailableException(null)
        return ContentUris.parseId(uri)
    }
}
