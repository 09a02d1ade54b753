// The binary bridge layout pinned from the Kotlin side: the shell reads the payloads the Rust
// core wrote (tests/fixtures/bridge_ops.bin, bridge_personal_insert.bin) and writes, for the
// same values, exactly the bytes the core's reader is tested on (bridge_index.bin, …); the
// Rust test `store::bridge::tests::the_fixtures_are_what_the_core_writes_and_the_shell_writes`
// pins the same files. Bad payloads are a BridgeFormatException, never another exception.
package app.contactsagent.sdk

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File
import kotlin.random.Random

class BridgeCodecTest {
    private fun fixture(name: String) = File(System.getProperty("contacts.repo"), "tests/fixtures/$name").readBytes()

    @Test
    fun `the shell reads the core batch with provider mimetypes, TYPE integers and raw photo bytes`() {
        val bytes = fixture("bridge_ops.bin")
        val ops = BridgeCodec.decodeOps(bytes)
        assertEquals(8, ops.size)
        val insert = ops[0] as BridgeOp.Write
        assertEquals(listOf(false, "u-1", "h1"), listOf(insert.update, insert.id, insert.hash))
        assertEquals(listOf("vnd.android.cursor.item/name", "vnd.android.cursor.item/phone_v2", "vnd.android.cursor.item/organization"), insert.rows.map { it.mimetype })
        // Phone.TYPE_MOBILE, as the provider stores it: the shell copies, never maps.
        assertEquals(listOf("+48 600 100 200", "2", null), insert.rows[1].data.take(3))
        assertEquals(listOf("harvey", "mike"), insert.groupSourceIds)
        assertEquals(BridgeFormat.PHOTO_SET, insert.photoAction)
        assertEquals("p1", insert.photoHash)
        assertArrayEquals(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte()), insert.photo)
        val update = ops[1] as BridgeOp.Write
        assertTrue(update.update && update.photoAction == BridgeFormat.PHOTO_CLEAR)
        assertTrue("vnd.android.cursor.item/group_membership" in update.ownedMimetypes, "${update.ownedMimetypes}")
        assertEquals(BridgeOp.Delete("u-3"), ops[2])
        assertEquals(BridgeOp.DeleteRaw(42), ops[3])
        val rich = ops[4] as BridgeOp.Write
        assertEquals(listOf("7", "-1"), rich.rows.filter { it.mimetype == "vnd.android.cursor.item/im" }.map { it.data[4] }) // PROTOCOL_JABBER, PROTOCOL_CUSTOM
        assertEquals(2, rich.rows.count { it.primary })
        assertEquals(listOf(BridgeOp.InsertGroup("sales", "Sales"), BridgeOp.RenameGroup(7, "Mike Ross"), BridgeOp.DeleteGroup(8)), ops.drop(5))
        // Written back by the Kotlin writer: the same bytes.
        assertArrayEquals(bytes, BridgeCodec.encodeOps(ops))
    }

    @Test
    fun `the shell reads a restore with account, starred, groups, rows and photo`() {
        val bytes = fixture("bridge_personal_insert.bin")
        val insert = BridgeCodec.decodePersonalInsert(bytes)
        assertEquals("com.google" to "zosia@example.invalid", insert.accountType to insert.accountName)
        val c = insert.contacts.single()
        assertTrue(c.starred)
        assertEquals(listOf("Rodzina", "Ulubione"), c.groupTitles)
        assertEquals(8, c.photo!!.size)
        // Phone TYPE_MOBILE, TYPE_PAGER, TYPE_CUSTOM + LABEL.
        val phones = c.rows.filter { it.mimetype == "vnd.android.cursor.item/phone_v2" }
        assertEquals(listOf("2", "6", "0"), phones.map { it.data[1] })
        assertEquals("Działka", phones[2].data[2])
        assertArrayEquals(bytes, BridgeCodec.encodePersonalInsert(insert))
    }

    @Test
    fun `the shell writes the reads byte for byte as the core's reader expects them`() {
        assertArrayEquals(
            fixture("bridge_index.bin"),
            BridgeCodec.encodeIndex(
                listOf(
                    IndexRecord(11, "u-1", "h1", "p1", dirty = false, deleted = false),
                    IndexRecord(12, "u-2", "h2", null, dirty = true, deleted = false),
                    IndexRecord(13, "u-3", "h3", null, dirty = true, deleted = true),
                ),
            ),
        )
        assertArrayEquals(
            fixture("bridge_groups.bin"),
            BridgeCodec.encodeGroups(
                listOf(
                    GroupRecord(7, "mike", "Mike", dirty = true, deleted = false, members = 2),
                    GroupRecord(8, null, "Family", dirty = false, deleted = true, members = 0),
                ),
            ),
        )
        assertArrayEquals(
            fixture("bridge_accounts.bin"),
            BridgeCodec.encodeAccounts(listOf("com.google" to "zosia@example.invalid", "com.example.exchange" to "Praca")),
        )
        val personal = fixture("bridge_personal.bin")
        val page = BridgeCodec.decodePersonal(personal)
        assertEquals(listOf(21L, 22L), page.map { it.rawId })
        assertEquals("com.google" to "zosia@example.invalid", page[0].accountType to page[0].accountName)
        assertEquals(listOf(true, false), page.map { it.starred })
        assertEquals(listOf("Rodzina", "Ulubione"), page[0].groupTitles)
        assertEquals(null to null, page[1].accountType to page[1].accountName)
        assertArrayEquals(personal, BridgeCodec.encodePersonal(page))
    }

    @Test
    fun `bad payloads are a BridgeFormatException, never another exception or a huge allocation`() {
        val good = fixture("bridge_index.bin")
        assertThrows<BridgeFormatException> { BridgeCodec.decodeIndex(good.copyOf(good.size - 1)) }
        val version = assertThrows<BridgeFormatException> { BridgeCodec.decodeIndex(good.copyOf().also { it[3] = 2 }) }
        assertTrue(version.message!!.contains("different releases"), version.message)
        assertThrows<BridgeFormatException> { BridgeCodec.decodeGroups(good) }
        assertThrows<BridgeFormatException> { BridgeCodec.decodeIndex(good + byteArrayOf(0)) }
        assertThrows<BridgeFormatException> { BridgeCodec.decodeIndex(good.copyOf().also { it[8] = 2 }) }
        // Four billion records, a 2 GB string.
        assertThrows<BridgeFormatException> { BridgeCodec.decodeIndex(good.copyOf().also { for (i in 5..8) it[i] = -1 }) }
        assertThrows<BridgeFormatException> { BridgeCodec.decodeIndex(good.copyOf().also { it[17] = 0x7F }) }
        // The first id ("u-1" at bytes 21-23) with a byte that is never UTF-8, and with a
        // truncated two-byte sequence: refused, not read as U+FFFD.
        for (bad in listOf(byteArrayOf(0xFF.toByte()), byteArrayOf('u'.code.toByte(), '-'.code.toByte(), 0xC3.toByte()))) {
            val e = assertThrows<BridgeFormatException> {
                BridgeCodec.decodeIndex(good.copyOf().also { bad.copyInto(it, 21 + 3 - bad.size) })
            }
            assertTrue(e.message!!.contains("not UTF-8"), e.message)
        }
        assertEquals("u-1", BridgeCodec.decodeIndex(good)[0].sourceId)
        // A real U+FFFD (EF BF BD) is text like any other.
        val replacement = byteArrayOf(0xEF.toByte(), 0xBF.toByte(), 0xBD.toByte())
        assertEquals("\uFFFD", BridgeCodec.decodeIndex(good.copyOf().also { replacement.copyInto(it, 21) })[0].sourceId)
        val ops = fixture("bridge_ops.bin")
        val random = Random(13)
        var refused = 0
        repeat(5_000) {
            val bytes = if (it % 2 == 0) random.nextBytes(random.nextInt(64)) else ops.copyOf(random.nextInt(ops.size + 1)).also { b ->
                repeat(random.nextInt(4)) { if (b.isNotEmpty()) b[random.nextInt(b.size)] = random.nextInt(256).toByte() }
            }
            try {
                BridgeCodec.decodeOps(bytes)
            } catch (e: BridgeFormatException) {
                refused++
            }
        }
        assertTrue(refused > 4_000, "$refused of 5000 refused")
    }
}
