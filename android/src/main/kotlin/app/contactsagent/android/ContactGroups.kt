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
import app.contactsagent.sdk.ContactStoreUnavailableException
import org.json.JSONArray
import org.json.JSONObject

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
    /** The bridge's group operations (`insert_group`, `rename_group`, `delete_group`), or null for another op. */
    fun translate(op: JSONObject): GroupOp? = when (op.getString("op")) {
        "insert_group" -> GroupOp.Insert(op.getString("source_id"), op.getString("title"))
        "rename_group" -> GroupOp.Rename(op.getLong("group_id"), op.getString("title"))
        "delete_group" -> GroupOp.Delete(op.getLong("group_id"))
        else -> null
    }

    /** The membership rows a contact write names (`group_source_ids`), after its other rows. */
    fun members(op: JSONObject, rawId: Long?, backRef: Int?): List<GroupOp.Member> {
        val ids = op.optJSONArray("group_source_ids") ?: return emptyList()
        return (0 until ids.length()).map { GroupOp.Member(rawId, backRef, ids.getString(it)) }
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
        val out = JSONArray()
        for ((id, g) in groups) {
            out.put(
                JSONObject().put("group_id", id).put("source_id", g[0] ?: JSONObject.NULL).put("title", g[1] ?: JSONObject.NULL)
                    .put("deleted", g[2]).put("dirty", g[3]).put("members", members[id] ?: 0),
            )
        }
        return out.toString().toByteArray()
    }

    /**
     * The `groups` of each managed contact in a `managedContacts` page: its membership rows
     * (GROUP_ROW_ID in DATA1) that point at a group of ours with a SOURCE_ID.
     */
    fun ofContacts(
        resolver: ContentResolver, account: Account, asSyncAdapter: (Uri) -> Uri, rows: Map<Long, JSONArray>,
    ): Map<Long, JSONArray> {
        val groups = groups(resolver, account, asSyncAdapter)
        val out = HashMap<Long, JSONArray>()
        for ((raw, list) in rows) {
            for (i in 0 until list.length()) {
                val row = list.getJSONObject(i)
                if (row.getString("mimetype") != GroupMembership.CONTENT_ITEM_TYPE) continue
                val g = row.getJSONArray("data").optString(0).toLongOrNull()?.let { groups[it] } ?: continue
                val sourceId = g[0] as String? ?: continue
                out.getOrPut(raw) { JSONArray() }.put(JSONObject().put("id", sourceId).put("name", g[1] ?: ""))
            }
        }
        return out
    }
}
