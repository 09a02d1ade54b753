package app.contactsagent.testing

import android.content.ContentResolver
import android.content.ContentUris
import android.content.ContentValues
import android.provider.ContactsContract.CommonDataKinds.Phone
import android.provider.ContactsContract.CommonDataKinds.StructuredName
import android.provider.ContactsContract.Data
import android.provider.ContactsContract.RawContacts

/**
 * The phone's user, through a contacts app: plain URIs (no caller_is_syncadapter), so the
 * provider marks what they touch dirty or deleted (docs/contacts-provider-model.md rules 1, 3).
 */
class PhoneUser(private val resolver: ContentResolver) {
    /**
     * Changes a contact's name. Our rows are read-only, and the provider ignores a plain
     * update of a read-only row (rule 8a), so an app that edits anyway deletes the name row and
     * inserts its own, which the provider allows.
     */
    fun editName(rawId: Long, displayName: String) {
        resolver.delete(Data.CONTENT_URI, "${Data.RAW_CONTACT_ID} = ? AND ${Data.MIMETYPE} = ?", arrayOf(rawId.toString(), StructuredName.CONTENT_ITEM_TYPE))
        resolver.insert(Data.CONTENT_URI, ContentValues().apply {
            put(Data.RAW_CONTACT_ID, rawId)
            put(Data.MIMETYPE, StructuredName.CONTENT_ITEM_TYPE)
            put(StructuredName.DISPLAY_NAME, displayName)
        })
    }

    /** A plain update of the name row: what the provider refuses for read-only rows. */
    fun updateNameInPlace(rawId: Long, displayName: String): Int =
        resolver.update(Data.CONTENT_URI, ContentValues().apply { put(StructuredName.DISPLAY_NAME, displayName) },
            "${Data.RAW_CONTACT_ID} = ? AND ${Data.MIMETYPE} = ?", arrayOf(rawId.toString(), StructuredName.CONTENT_ITEM_TYPE))

    /** Deletes a contact from the contacts app: a tombstone (DELETED=1) for an account's contact. */
    fun deleteContact(rawId: Long): Int = resolver.delete(ContentUris.withAppendedId(RawContacts.CONTENT_URI, rawId), null, null)

    /** A contact of the user's own (device-local when [accountType] is null). */
    fun addContact(name: String, phone: String, accountType: String? = null, accountName: String? = null): Long {
        val raw = resolver.insert(RawContacts.CONTENT_URI, ContentValues().apply {
            put(RawContacts.ACCOUNT_TYPE, accountType)
            put(RawContacts.ACCOUNT_NAME, accountName)
        })!!
        val id = ContentUris.parseId(raw)
        resolver.insert(Data.CONTENT_URI, ContentValues().apply {
            put(Data.RAW_CONTACT_ID, id)
            put(Data.MIMETYPE, StructuredName.CONTENT_ITEM_TYPE)
            put(StructuredName.DISPLAY_NAME, name)
        })
        resolver.insert(Data.CONTENT_URI, ContentValues().apply {
            put(Data.RAW_CONTACT_ID, id)
            put(Data.MIMETYPE, Phone.CONTENT_ITEM_TYPE)
            put(Phone.NUMBER, phone)
            put(Phone.TYPE, Phone.TYPE_MOBILE)
        })
        return id
    }
}

/** Another app with WRITE_CONTACTS (a messenger, an OEM feature) adding its own row to one of our raw contacts (rule 6). */
class OtherApp(private val resolver: ContentResolver) {
    fun addRow(rawId: Long, mimetype: String = WHATSAPP, data1: String = "+48 600 000 000"): Long =
        ContentUris.parseId(resolver.insert(Data.CONTENT_URI, ContentValues().apply {
            put(Data.RAW_CONTACT_ID, rawId)
            put(Data.MIMETYPE, mimetype)
            put(Data.DATA1, data1)
            put(Data.DATA3, "Message $data1")
        })!!)

    companion object {
        const val WHATSAPP = "vnd.android.cursor.item/vnd.com.whatsapp.profile"
    }
}
