package app.contactsagent.android

/**
 * The core writes kinds as words ("mobile", "work", …) in DATA2; ContactsProvider wants the
 * CommonDataKinds TYPE integers. Both directions, pure (values are the platform constants).
 */
object ProviderTypes {
    private const val PHONE = "vnd.android.cursor.item/phone_v2"
    private const val EMAIL = "vnd.android.cursor.item/email_v2"
    private const val POSTAL = "vnd.android.cursor.item/postal-address_v2"
    private const val EVENT = "vnd.android.cursor.item/contact_event"

    // "custom" is TYPE_CUSTOM (0): the core writes it, with the word in LABEL (DATA3), for a
    // kind the server sent that the agent does not know ("pager").
    private val phone = mapOf("custom" to 0, "home" to 1, "mobile" to 2, "work" to 3, "fax_work" to 4, "other" to 7, "main" to 12, "work_mobile" to 17)
    private val email = mapOf("custom" to 0, "home" to 1, "work" to 2, "other" to 3)
    private val postal = mapOf("home" to 1, "work" to 2, "other" to 3)
    private val event = mapOf("birthday" to 3)

    private fun table(mime: String): Map<String, Int>? = when (mime) {
        PHONE -> phone
        EMAIL -> email
        POSTAL -> postal
        EVENT -> event
        else -> null
    }

    /** DATA1..DATA10 as the provider stores them. */
    fun toProvider(mime: String, data: List<String?>): List<String?> {
        val t = table(mime) ?: return data
        val kind = data.getOrNull(1) ?: return data
        return data.toMutableList().also { it[1] = (t[kind] ?: t["other"] ?: 0).toString() }
    }

    /** DATA1..DATA10 as the core reads them; an unknown TYPE reads as "other". */
    fun fromProvider(mime: String, data: List<String?>): List<String?> {
        val t = table(mime) ?: return data
        val code = data.getOrNull(1)?.toIntOrNull() ?: return data
        val word = t.entries.firstOrNull { it.value == code }?.key ?: "other"
        return data.toMutableList().also { it[1] = word }
    }
}
