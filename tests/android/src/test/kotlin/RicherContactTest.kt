// The richer contact (protocol 1.0) through the shell: the fixture's insert of a contact with
// every field (tests/fixtures/bridge_ops.bin, op "u-5", pinned by a Rust test) applied by
// ContactsContractStore to the provider stand-in. Each field must land in the
// CommonDataKinds columns Android's own apps read, with the platform's type integers, and
// read back as the rows the core wrote.
package app.contactsagent.android

import android.Manifest
import android.accounts.Account
import android.provider.ContactsContract.CommonDataKinds.Email
import android.provider.ContactsContract.CommonDataKinds.Im
import android.provider.ContactsContract.CommonDataKinds.Nickname
import android.provider.ContactsContract.CommonDataKinds.Organization
import android.provider.ContactsContract.CommonDataKinds.Phone
import android.provider.ContactsContract.CommonDataKinds.Relation
import android.provider.ContactsContract.CommonDataKinds.SipAddress
import android.provider.ContactsContract.CommonDataKinds.StructuredName
import android.provider.ContactsContract.CommonDataKinds.StructuredPostal
import android.provider.ContactsContract.CommonDataKinds.Website
import app.contactsagent.testing.DataRow
import app.contactsagent.testing.FakeContactsProvider
import app.contactsagent.testing.ShellTestRunner
import app.contactsagent.sdk.BridgeCodec
import app.contactsagent.sdk.BridgeOp
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.io.File

@RunWith(ShellTestRunner::class)
@Config(sdk = [34])
class RicherContactTest {
    private val account = Account("Company", "app.contactsagent.business")
    private lateinit var provider: FakeContactsProvider
    private lateinit var store: ContactsContractStore
    private val app get() = RuntimeEnvironment.getApplication()
    private val repo = File(System.getProperty("contacts.repo"))
    private val fixture = BridgeCodec.decodeOps(File(repo, "tests/fixtures/bridge_ops.bin").readBytes())
    private val everyField: BridgeOp.Write = fixture.filterIsInstance<BridgeOp.Write>().single { it.id == "u-5" }

    @Before
    fun setUp() {
        provider = FakeContactsProvider.install()
        shadowOf(app).grantPermissions(Manifest.permission.READ_CONTACTS, Manifest.permission.WRITE_CONTACTS)
        store = ContactsContractStore(app, account, photoWaitMs = 2_000)
    }

    @After
    fun tearDown() = provider.close()

    private fun rows(): List<DataRow> = provider.dataRows(provider.rawContacts("sourceid = ?", "u-5").single().id)
    private fun of(rows: List<DataRow>, mime: String) = rows.filter { it.mimetype == mime }
    private fun DataRow.col(column: String): String? = data[column.removePrefix("data").toInt() - 1]

    @Test
    fun `every field of the richer contact lands in its CommonDataKinds columns`() {
        store.applyBatch(BridgeCodec.encodeOps(listOf(everyField)))
        val rows = rows()

        val name = of(rows, StructuredName.CONTENT_ITEM_TYPE).single()
        assertEquals("dr", name.col(StructuredName.PREFIX))
        assertEquals("Maria", name.col(StructuredName.MIDDLE_NAME))
        assertEquals("MBA", name.col(StructuredName.SUFFIX))
        assertEquals("Zazulch", name.col(StructuredName.PHONETIC_GIVEN_NAME))
        assertEquals("Gensla", name.col(StructuredName.PHONETIC_FAMILY_NAME))

        val nick = of(rows, Nickname.CONTENT_ITEM_TYPE).single()
        assertEquals(listOf("Zaza", Nickname.TYPE_DEFAULT.toString()), listOf(nick.col(Nickname.NAME), nick.col(Nickname.TYPE)))

        // The preferred phone and e-mail: IS_PRIMARY and IS_SUPER_PRIMARY on that row only.
        val phones = of(rows, Phone.CONTENT_ITEM_TYPE)
        assertEquals(listOf(1, 0, 0), phones.map { it.isPrimary })
        assertEquals(listOf(1, 0, 0), phones.map { it.isSuperPrimary })
        assertEquals(Phone.TYPE_CUSTOM.toString(), phones[2].col(Phone.TYPE))
        assertEquals("Reception", phones[2].col(Phone.LABEL))
        val emails = of(rows, Email.CONTENT_ITEM_TYPE)
        assertEquals(listOf(0, 1), emails.map { it.isPrimary })
        assertEquals(listOf(Email.TYPE_WORK.toString(), Email.TYPE_CUSTOM.toString()), emails.map { it.col(Email.TYPE) })
        assertEquals("Board", emails[1].col(Email.LABEL))

        assertEquals("B2, floor 3", of(rows, Organization.CONTENT_ITEM_TYPE).single().col(Organization.OFFICE_LOCATION))

        // The legacy untyped address, then the typed ones.
        val postal = of(rows, StructuredPostal.CONTENT_ITEM_TYPE)
        assertEquals(listOf(null, StructuredPostal.TYPE_WORK.toString(), StructuredPostal.TYPE_CUSTOM.toString()), postal.map { it.col(StructuredPostal.TYPE) })
        assertEquals(listOf("Gdańsk", "Warszawa", "Łódź"), postal.map { it.col(StructuredPostal.CITY) })
        assertEquals("Warehouse", postal[2].col(StructuredPostal.LABEL))

        val web = of(rows, Website.CONTENT_ITEM_TYPE).single()
        assertEquals(listOf("https://acme.example/zaza", Website.TYPE_WORK.toString()), listOf(web.col(Website.URL), web.col(Website.TYPE)))
        val sip = of(rows, SipAddress.CONTENT_ITEM_TYPE).single()
        assertEquals(listOf("sip:1001@pbx.acme.example", SipAddress.TYPE_WORK.toString()), listOf(sip.col(SipAddress.SIP_ADDRESS), sip.col(SipAddress.TYPE)))

        val ims = of(rows, Im.CONTENT_ITEM_TYPE)
        assertEquals(listOf("zaza@chat.example", "zaza@acme.example"), ims.map { it.col(Im.DATA) })
        assertEquals(listOf(Im.PROTOCOL_JABBER.toString(), Im.PROTOCOL_CUSTOM.toString()), ims.map { it.col(Im.PROTOCOL) })
        assertEquals(listOf(null, "teams"), ims.map { it.col(Im.CUSTOM_PROTOCOL) })
        assertEquals(listOf(Im.TYPE_WORK.toString()), ims.map { it.col(Im.TYPE) }.distinct())

        val relations = of(rows, Relation.CONTENT_ITEM_TYPE)
        assertEquals(
            listOf("Jessica Pearson" to Relation.TYPE_MANAGER.toString(), "Donna Paulsen" to Relation.TYPE_ASSISTANT.toString()),
            relations.map { it.col(Relation.NAME) to it.col(Relation.TYPE) },
        )
    }

    @Test
    fun `the rows read back are the rows the core wrote, preferred flags included`() {
        store.applyBatch(BridgeCodec.encodeOps(listOf(everyField)))
        val managed = BridgeCodec.decodeManaged(store.managedContacts(0, 10)).single()
        assertEquals(everyField.rows, managed.rows)
    }

    @Test
    fun `an update replaces the richer rows too, and a preferred phone moves`() {
        store.applyBatch(BridgeCodec.encodeOps(listOf(everyField)))
        val owned = (fixture[1] as BridgeOp.Write).ownedMimetypes
        val moved = everyField.rows.map { r ->
            if (r.mimetype == Phone.CONTENT_ITEM_TYPE) r.copy(primary = r.data[0] == "+48 2") else r
        }
        val update = BridgeOp.Write(true, everyField.id, "h6", moved, everyField.groupSourceIds, everyField.photoAction, null, null, owned)
        store.applyBatch(BridgeCodec.encodeOps(listOf(update)))
        val rows = rows()
        // Nothing doubled: every owned row was replaced.
        assertEquals(everyField.rows.size, rows.size)
        assertEquals(listOf(0, 1, 0), of(rows, Phone.CONTENT_ITEM_TYPE).map { it.isPrimary })
    }
}
