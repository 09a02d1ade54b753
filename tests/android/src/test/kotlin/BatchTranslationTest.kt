// Plain-JVM tests of the shell's translation (Robolectric is not used: see the README), on
// the batch the Rust core really sends (tests/fixtures/bridge_batch.json, pinned by a Rust test).
package app.contactsagent.android

import org.json.JSONArray
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
    fun `inserts reference their raw contact, updates replace rows of a known raw contact, deletes go by source id`() {
        assertEquals(listOf("u-2"), BatchTranslation.updatedIds(batch))
        val t = BatchTranslation.translate(batch, mapOf("u-2" to 42L))
        assertEquals(3, t.groups.size)

        val insert = t.groups[0]
        assertEquals(ProviderOp.InsertRaw("u-1", "h1", "p1"), insert[0])
        val rows = insert.drop(1).map { it as ProviderOp.InsertData }
        assertEquals(3, rows.size)
        assertTrue(rows.all { it.backRef == 0 && it.rawId == null })
        assertEquals("vnd.android.cursor.item/phone_v2", rows[1].mimetype)
        assertEquals(listOf("+48 600 100 200", "mobile"), rows[1].data.take(2))

        val update = t.groups[1]
        assertEquals(ProviderOp.UpdateRaw(42L, "h2", null, "clear"), update[0])
        assertEquals(ProviderOp.DeleteDataOf(42L), update[1])
        assertTrue(update.drop(2).all { it is ProviderOp.InsertData && it.rawId == 42L && it.backRef == null })

        assertEquals(listOf(ProviderOp.DeleteRaw("u-3")), t.groups[2])
        assertEquals(3 + 1 + 2 + 3 + 1, BatchTranslation.size(t.groups))

        assertEquals(2, t.photos.size)
        assertArrayEquals(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte()), t.photos[0].bytes)
        assertNull(t.photos[1].bytes)
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
        assertEquals(listOf("a", "b"), ProviderTypes.toProvider("vnd.android.cursor.item/name", listOf("a", "b")))
    }
}
