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
    private const val NICKNAME = "vnd.android.cursor.item/nickname"
    private const val WEBSITE = "vnd.android.cursor.item/website"
    private const val SIP = "vnd.android.cursor.item/sip_address"
    private const val IM = "vnd.android.cursor.item/im"
    private const val RELATION = "vnd.android.cursor.item/relation"

    // "custom" is TYPE_CUSTOM (0): the core writes it, with the word in LABEL (DATA3), for a
    // kind the server sent that the agent does not know ("pager") or a server's own label.
    private val phone = mapOf("custom" to 0, "home" to 1, "mobile" to 2, "work" to 3, "fax_work" to 4, "other" to 7, "main" to 12, "work_mobile" to 17)
    private val email = mapOf("custom" to 0, "home" to 1, "work" to 2, "other" to 3)
    private val postal = mapOf("custom" to 0, "home" to 1, "work" to 2, "other" to 3)
    private val event = mapOf("birthday" to 3)
    private val nickname = mapOf("custom" to 0, "default" to 1, "other" to 2)
    private val website = mapOf("custom" to 0, "home" to 4, "work" to 5, "other" to 7)
    private val sip = mapOf("custom" to 0, "home" to 1, "work" to 2, "other" to 3)
    private val im = mapOf("custom" to 0, "home" to 1, "work" to 2, "other" to 3)
    private val relation = mapOf("custom" to 0, "assistant" to 1, "manager" to 7)

    /** Im.PROTOCOL (DATA5): PROTOCOL_CUSTOM is -1, its name in CUSTOM_PROTOCOL (DATA6). */
    private val imProtocol = mapOf(
        "custom" to -1, "aim" to 0, "msn" to 1, "yahoo" to 2, "skype" to 3, "qq" to 4,
        "google_talk" to 5, "icq" to 6, "jabber" to 7, "netmeeting" to 8,
    )

    private fun table(mime: String): Map<String, Int>? = when (mime) {
        PHONE -> phone
        EMAIL -> email
        POSTAL -> postal
        EVENT -> event
        NICKNAME -> nickname
        WEBSITE -> website
        SIP -> sip
        IM -> im
        RELATION -> relation
        else -> null
    }

    /** DATA1..DATA10 as the provider stores them. */
    fun toProvider(mime: String, data: List<String?>): List<String?> {
        val t = table(mime) ?: return data
        val out = data.toMutableList()
        data.getOrNull(1)?.let { kind -> out[1] = (t[kind] ?: t["other"] ?: 0).toString() }
        if (mime == IM) data.getOrNull(4)?.let { p -> out[4] = (imProtocol[p] ?: -1).toString() }
        return out
    }

    /** DATA1..DATA10 as the core reads them; an unknown TYPE reads as "other". */
    fun fromProvider(mime: String, data: List<String?>): List<String?> {
        val t = table(mime) ?: return data
        val out = data.toMutableList()
        data.getOrNull(1)?.toIntOrNull()?.let { code -> out[1] = t.entries.firstOrNull { it.value == code }?.key ?: "other" }
        if (mime == IM) {
            data.getOrNull(4)?.toIntOrNull()?.let { code -> out[4] = imProtocol.entries.firstOrNull { it.value == code }?.key ?: "custom" }
        }
        return out
    }
}
