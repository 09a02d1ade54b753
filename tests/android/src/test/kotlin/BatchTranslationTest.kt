// Plain-JVM tests of the shell's translation on the batch the Rust core really sends
// (tests/fixtures/bridge_batch.json, pinned by a Rust test). The operations it becomes are
// run against a ContactsProvider stand-in in the Robolectric tests.
package app.contactsagent.android

import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File

class BatchTranslationTest {
    private val repo = File(System.getProperty("contacts.repo"))
    private val batch = JSONArray(File(repo, "tests/fixtures/bridge_batch.json").readText())

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
        assertEquals(listOf("+48 600 100 200", "mobile"), rows[1].data.take(2))

        // Update with photo_action clear: hash + DIRTY, SYNC2 cleared, owned rows and the
        // Photo row deleted, new rows inserted.
        val owned = batch.getJSONObject(1).getJSONArray("owned_mimetypes").let { a -> (0 until a.length()).map { a.getString(it) } }
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
        val richRows = batch.getJSONObject(4).getJSONArray("rows").length()
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
        val op = JSONObject(batch.getJSONObject(1).toString())
            .put("photo_action", "set").put("photo_hash", "p9").put("photo", "/9j/")
            .put("owned_mimetypes", JSONArray(listOf("vnd.android.cursor.item/name", BatchTranslation.PHOTO_MIMETYPE)))
        val t = BatchTranslation.translate(JSONArray().put(op), mapOf("u-2" to 7L))
        val group = t.groups.single()
        assertEquals(ProviderOp.UpdateRaw(7L, "h2", clearPhoto = false), group[0])
        assertEquals(ProviderOp.DeleteOwnedData(7L, listOf("vnd.android.cursor.item/name")), group[1])
        assertTrue(group.none { it is ProviderOp.DeletePhoto })
        assertEquals(7L, t.photos.single().rawId)
        assertEquals("p9", t.photos.single().hash)
        // An update that names no owned mimetypes is refused rather than guessed.
        op.remove("owned_mimetypes")
        assertThrows<IllegalArgumentException> { BatchTranslation.translate(JSONArray().put(op), mapOf("u-2" to 7L)) }
    }

    @Test
    fun `an update of a contact missing from our account is refused, not applied elsewhere`() {
        assertThrows<IllegalStateException> { BatchTranslation.translate(batch, emptyMap()) }
    }

    @Test
    fun `provider type codes round trip`() {
        for (mime in listOf("vnd.android.cursor.item/phone_v2", "vnd.android.cursor.item/email_v2", "vnd.android.cursor.item/postal-address_v2")) {
            for (kind in listOf("home", "work", "other")) {
                val stored = ProviderTypes.toProvider(mime, listOf("x", kind))
                assertTrue(stored[1]!!.toInt() > 0)
                assertEquals(kind, ProviderTypes.fromProvider(mime, stored)[1])
            }
        }
        val mobile = ProviderTypes.toProvider("vnd.android.cursor.item/phone_v2", listOf("1", "mobile"))
        assertEquals("2", mobile[1]) // Phone.TYPE_MOBILE
        assertEquals("other", ProviderTypes.fromProvider("vnd.android.cursor.item/phone_v2", listOf("1", "99"))[1])
        // A kind the agent does not know ("pager") arrives as TYPE_CUSTOM with its word in LABEL.
        val pager = ProviderTypes.toProvider("vnd.android.cursor.item/phone_v2", listOf("1", "custom", "pager"))
        assertEquals(listOf("1", "0", "pager"), pager)
        assertEquals("custom", ProviderTypes.fromProvider("vnd.android.cursor.item/phone_v2", pager)[1])
        assertEquals(listOf("a", "b"), ProviderTypes.toProvider("vnd.android.cursor.item/name", listOf("a", "b")))
        // Im: TYPE in DATA2 and PROTOCOL in DATA5, both ways; an unknown protocol code is custom.
        val im = "vnd.android.cursor.item/im"
        val skype = ProviderTypes.toProvider(im, listOf("h", "work", null, null, "skype", null))
        assertEquals(listOf("h", "2", null, null, "3", null), skype)
        assertEquals(listOf("h", "work", null, null, "skype", null), ProviderTypes.fromProvider(im, skype))
        assertEquals("custom", ProviderTypes.fromProvider(im, listOf("h", "2", null, null, "99", null))[4])
        assertEquals("7", ProviderTypes.toProvider("vnd.android.cursor.item/relation", listOf("Jessica", "manager"))[1])
    }
}
