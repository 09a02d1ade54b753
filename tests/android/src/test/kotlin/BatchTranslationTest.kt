// Plain-JVM tests of the shell's translation on the batch the Rust core really sends
// (tests/fixtures/bridge_ops.bin, pinned by a Rust test). The operations it becomes are
// run against a ContactsProvider stand-in in the Robolectric tests.
package app.contactsagent.android

import app.contactsagent.sdk.BridgeCodec
import app.contactsagent.sdk.BridgeFormat
import app.contactsagent.sdk.BridgeOp
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File

class BatchTranslationTest {
    private val repo = File(System.getProperty("contacts.repo"))
    private val batch = BridgeCodec.decodeOps(File(repo, "tests/fixtures/bridge_ops.bin").readBytes())

    @Test
    fun `inserts reference their raw contact, updates replace only owned rows, deletes go by source id or raw id`() {
        assertEquals(listOf("u-2"), BatchTranslation.updatedIds(batch))
        assertEquals(setOf(42L), BatchTranslation.deletedRawIds(batch))
        val t = BatchTranslation.translate(batch, mapOf("u-2" to 7L))
        assertEquals(8, t.groups.size)

        // Insert: SYNC2 is not in the batch (set once the photo file is stored); its groups
        // are membership rows by SOURCE_ID after its other rows.
        val insert = t.groups[0]
        assertEquals(ProviderOp.InsertRaw("u-1", "h1"), insert[0])
        val rows = insert.drop(1).filterIsInstance<ProviderOp.InsertData>()
        assertEquals(3, rows.size)
        assertEquals(listOf(GroupOp.Member(null, 0, "harvey"), GroupOp.Member(null, 0, "mike")), insert.drop(4))
        assertTrue(rows.all { it.backRef == 0 && it.rawId == null })
        assertEquals("vnd.android.cursor.item/phone_v2", rows[1].mimetype)
        // The provider's Phone.TYPE_MOBILE, copied as the core sent it.
        assertEquals(listOf("+48 600 100 200", "2"), rows[1].data.take(2))

        // Update with photo_action clear: hash + DIRTY, SYNC2 cleared, owned rows and the
        // Photo row deleted, new rows inserted.
        val owned = (batch[1] as BridgeOp.Write).ownedMimetypes
        assertTrue("vnd.android.cursor.item/name" in owned && "vnd.android.cursor.item/phone_v2" in owned, "$owned")
        val update = t.groups[1]
        assertEquals(ProviderOp.UpdateRaw(7L, "h2", clearPhoto = true), update[0])
        assertEquals(ProviderOp.DeleteOwnedData(7L, owned.filter { it != BatchTranslation.PHOTO_MIMETYPE }), update[1])
        assertEquals(ProviderOp.DeletePhoto(7L), update[2])
        assertTrue(update.drop(3).dropLast(2).all { it is ProviderOp.InsertData && it.rawId == 7L && it.backRef == null })
        assertEquals(listOf(GroupOp.Member(7L, null, "harvey"), GroupOp.Member(7L, null, "mike")), update.takeLast(2))
        assertTrue("vnd.android.cursor.item/group_membership" in owned, "an update replaces the memberships: $owned")

        assertEquals(listOf(ProviderOp.DeleteBySource("u-3")), t.groups[2])
        assertEquals(listOf(ProviderOp.DeleteRawById(42L)), t.groups[3])
        // The fifth op inserts the contact with every field (RicherContactTest): no photo.
        val richRows = (batch[4] as BridgeOp.Write).rows.size
        assertEquals(1 + richRows, t.groups[4].size)
        assertTrue(t.groups[4].filterIsInstance<ProviderOp.InsertData>().count { it.primary } == 2)
        // Group operations, each alone, by SOURCE_ID (insert) or the group's _ID.
        assertEquals(listOf(GroupOp.Insert("sales", "Sales")), t.groups[5])
        assertEquals(listOf(GroupOp.Rename(7L, "Mike Ross")), t.groups[6])
        assertEquals(listOf(GroupOp.Delete(8L)), t.groups[7])
        assertEquals(6 + 8 + 1 + 1 + 1 + richRows + 3, BatchTranslation.size(t.groups))

        // Only the insert's photo is written (after the batch), with its hash for SYNC2.
        assertEquals(1, t.photos.size)
        assertEquals(0, t.photos[0].group)
        assertNull(t.photos[0].rawId)
        assertEquals("p1", t.photos[0].hash)
        assertArrayEquals(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte()), t.photos[0].bytes)
    }

    @Test
    fun `an update with a photo never touches SYNC2 in the batch, and never deletes the Photo row by mimetype`() {
        val u = batch[1] as BridgeOp.Write
        fun update(owned: List<String>) = BridgeOp.Write(
            true, u.id, u.hash, u.rows, u.groupSourceIds, BridgeFormat.PHOTO_SET, "p9", byteArrayOf(1, 2), owned,
        )
        val t = BatchTranslation.translate(listOf(update(listOf("vnd.android.cursor.item/name", BatchTranslation.PHOTO_MIMETYPE))), mapOf("u-2" to 7L))
        val group = t.groups.single()
        assertEquals(ProviderOp.UpdateRaw(7L, "h2", clearPhoto = false), group[0])
        assertEquals(ProviderOp.DeleteOwnedData(7L, listOf("vnd.android.cursor.item/name")), group[1])
        assertTrue(group.none { it is ProviderOp.DeletePhoto })
        assertEquals(7L, t.photos.single().rawId)
        assertEquals("p9", t.photos.single().hash)
        // An update that names no owned mimetypes is refused rather than guessed.
        assertThrows<IllegalArgumentException> { BatchTranslation.translate(listOf(update(emptyList())), mapOf("u-2" to 7L)) }
    }

    @Test
    fun `an update of a contact missing from our account is refused, not applied elsewhere`() {
        assertThrows<IllegalStateException> { BatchTranslation.translate(batch, emptyMap()) }
    }
}
