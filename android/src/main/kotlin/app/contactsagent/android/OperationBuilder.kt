package app.contactsagent.android

import android.accounts.Account
import android.content.ContentProviderOperation
import android.content.ContentUris
import android.net.Uri
import android.provider.ContactsContract
import android.provider.ContactsContract.CommonDataKinds.Photo
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.RawContacts

/**
 * Provider operations as ContentProviderOperations: always as the sync adapter of [account],
 * back references offset per contact group, data rows read-only, every raw-contact update
 * and delete restricted to our account type + name in its selection (and by the account
 * parameters of the sync-adapter URI). No Context needed, so it is tested on a plain JVM with
 * the real framework classes from android-all.
 */
class OperationBuilder(private val account: Account) {
    fun asSyncAdapter(uri: Uri): Uri = uri.buildUpon()
        .appendQueryParameter(ContactsContract.CALLER_IS_SYNCADAPTER, "true")
        .appendQueryParameter(RawContacts.ACCOUNT_NAME, account.name)
        .appendQueryParameter(RawContacts.ACCOUNT_TYPE, account.type)
        .build()

    fun build(groups: List<List<ProviderOp>>): ArrayList<ContentProviderOperation> {
        val out = ArrayList<ContentProviderOperation>()
        val rawUri = asSyncAdapter(RawContacts.CONTENT_URI)
        val dataUri = asSyncAdapter(Data.CONTENT_URI)
        val ours = "${RawContacts.ACCOUNT_TYPE} = ? AND ${RawContacts.ACCOUNT_NAME} = ?"
        for (group in groups) {
            val start = out.size
            for (op in group) {
                out += when (op) {
                    is ProviderOp.InsertRaw -> ContentProviderOperation.newInsert(rawUri)
                        .withValue(RawContacts.ACCOUNT_TYPE, account.type)
                        .withValue(RawContacts.ACCOUNT_NAME, account.name)
                        .withValue(RawContacts.SOURCE_ID, op.sourceId)
                        .withValue(RawContacts.SYNC1, op.hash)
                        // Set after the photo file is stored (ContactsContractStore.writePhoto).
                        .withValue(RawContacts.SYNC2, null)
                        .withValue(RawContacts.RAW_CONTACT_IS_READ_ONLY, 1)
                        .build()
                    is ProviderOp.InsertData -> {
                        val b = ContentProviderOperation.newInsert(dataUri)
                        if (op.backRef != null) b.withValueBackReference(Data.RAW_CONTACT_ID, start + op.backRef)
                        else b.withValue(Data.RAW_CONTACT_ID, op.rawId)
                        b.withValue(Data.MIMETYPE, op.mimetype).withValue(Data.IS_READ_ONLY, 1)
                        // As DAVx5 writes a vCard's PREF: both flags, so the dialer calls it.
                        if (op.primary) b.withValue(Data.IS_PRIMARY, 1).withValue(Data.IS_SUPER_PRIMARY, 1)
                        // The core's columns as they are (TYPE integers included).
                        op.data.forEachIndexed { i, v -> b.withValue(DATA_COLUMNS[i], v) }
                        b.build()
                    }
                    is ProviderOp.UpdateRaw -> {
                        val b = ContentProviderOperation.newUpdate(ContentUris.withAppendedId(rawUri, op.rawId))
                            .withSelection(ours, arrayOf(account.type, account.name))
                            .withValue(RawContacts.SYNC1, op.hash)
                            .withValue(RawContacts.DIRTY, 0)
                        if (op.clearPhoto) b.withValue(RawContacts.SYNC2, null)
                        b.build()
                    }
                    is ProviderOp.DeleteOwnedData -> {
                        val marks = op.mimetypes.joinToString(",") { "?" }
                        ContentProviderOperation.newDelete(dataUri)
                            .withSelection(
                                "${Data.RAW_CONTACT_ID} = ? AND ${Data.MIMETYPE} IN ($marks)",
                                arrayOf(op.rawId.toString()) + op.mimetypes,
                            )
                            .build()
                    }
                    is ProviderOp.DeletePhoto -> ContentProviderOperation.newDelete(dataUri)
                        .withSelection(
                            "${Data.RAW_CONTACT_ID} = ? AND ${Data.MIMETYPE} = ?",
                            arrayOf(op.rawId.toString(), Photo.CONTENT_ITEM_TYPE),
                        )
                        .build()
                    is ProviderOp.DeleteBySource -> ContentProviderOperation.newDelete(rawUri)
                        .withSelection("$ours AND ${RawContacts.SOURCE_ID} = ?", arrayOf(account.type, account.name, op.sourceId))
                        .build()
                    is ProviderOp.DeleteRawById -> ContentProviderOperation.newDelete(rawUri)
                        .withSelection("${RawContacts._ID} = ? AND $ours", arrayOf(op.rawId.toString(), account.type, account.name))
                        .build()
                    is GroupOp -> ContactGroups.build(op, account, ::asSyncAdapter, start)
                }
            }
        }
        return out
    }
}

/** `data1`..`data10`, the columns a bridge row carries. */
internal val DATA_COLUMNS: Array<String> = Array(10) { "data${it + 1}" }
