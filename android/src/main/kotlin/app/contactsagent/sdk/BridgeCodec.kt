package app.contactsagent.sdk

import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CharsetDecoder
import java.nio.charset.CodingErrorAction

/**
 * The binary layout that crosses the JNI bridge, as the Rust core defines it in
 * `src/store/bridge.rs` (the one description; the fixture tests pin both sides). This file
 * only moves bytes and columns: the mimetypes and TYPE integers in the rows are the core's,
 * copied to and from ContactsProvider as they are. No dependency beyond the JDK.
 */
object BridgeFormat {
    val MAGIC = byteArrayOf('C'.code.toByte(), 'A'.code.toByte(), 'B'.code.toByte())
    const val VERSION = 1

    const val KIND_OPS = 1
    const val KIND_INDEX = 2
    const val KIND_GROUPS = 3
    const val KIND_MANAGED = 4
    const val KIND_PERSONAL = 5
    const val KIND_PERSONAL_INSERT = 6
    const val KIND_ACCOUNTS = 7

    const val TAG_INSERT = 1
    const val TAG_UPDATE = 2
    const val TAG_DELETE = 3
    const val TAG_DELETE_RAW = 4
    const val TAG_INSERT_GROUP = 5
    const val TAG_RENAME_GROUP = 6
    const val TAG_DELETE_GROUP = 7

    const val PHOTO_KEEP = 0
    const val PHOTO_SET = 1
    const val PHOTO_CLEAR = 2

    const val COLUMNS = 10
}

/** A payload that does not follow the layout (or another version of it): nothing is applied. */
class BridgeFormatException(message: String) : IllegalArgumentException(message)

/** One ContactsContract.Data row: MIMETYPE, DATA1..DATA10 as text, IS_PRIMARY (+ IS_SUPER_PRIMARY). */
data class BridgeRow(val mimetype: String, val data: List<String?>, val primary: Boolean = false)

/** One operation of an applyBatch payload. */
sealed class BridgeOp {
    /** An insert, or (with [ownedMimetypes]) an update that first deletes the rows of those mimetypes. */
    class Write(
        val update: Boolean,
        val id: String,
        val hash: String,
        val rows: List<BridgeRow>,
        val groupSourceIds: List<String>,
        val photoAction: Int,
        val photoHash: String?,
        val photo: ByteArray?,
        val ownedMimetypes: List<String>,
    ) : BridgeOp()

    data class Delete(val id: String) : BridgeOp()
    data class DeleteRaw(val rawId: Long) : BridgeOp()
    data class InsertGroup(val sourceId: String, val title: String) : BridgeOp()
    data class RenameGroup(val groupId: Long, val title: String) : BridgeOp()
    data class DeleteGroup(val groupId: Long) : BridgeOp()
}

/** A raw contact of our account as `managedIndex` copies it (DIRTY and DELETED as the provider has them). */
data class IndexRecord(val rawId: Long, val sourceId: String, val sync1: String?, val sync2: String?, val dirty: Boolean, val deleted: Boolean)

/** A group of our account as `managedGroups` copies it. */
data class GroupRecord(val groupId: Long, val sourceId: String?, val title: String?, val dirty: Boolean, val deleted: Boolean, val members: Long)

/** A managed contact as `managedContacts` copies it, with the (SOURCE_ID, TITLE) of its groups. */
data class ManagedRecord(val sourceId: String, val sync1: String?, val sync2: String?, val rows: List<BridgeRow>, val groups: List<Pair<String, String?>>)

/** A personal raw contact as `personalPage` copies it (and as `insertPersonal` receives one, without [rawId] and account). */
class PersonalRecord(
    val rawId: Long,
    val accountType: String?,
    val accountName: String?,
    val starred: Boolean,
    val rows: List<BridgeRow>,
    val groupTitles: List<String>,
    val photo: ByteArray?,
)

/** An insertPersonal payload: the target account (null type: device-local) and the contacts. */
class PersonalInsert(val accountType: String?, val accountName: String?, val contacts: List<PersonalRecord>)

/** Reads one payload; every length and count is checked against the bytes left before use. */
class BridgeReader(bytes: ByteArray, kind: Int) {
    private val buf: ByteBuffer = ByteBuffer.wrap(bytes)
    private val utf8: CharsetDecoder = Charsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT)

    /** The number of records the header announces. */
    val count: Int

    init {
        need(5, "header")
        val magic = ByteArray(3).also { buf.get(it) }
        if (!magic.contentEquals(BridgeFormat.MAGIC)) throw BridgeFormatException("not a bridge payload")
        val version = buf.get().toInt() and 0xFF
        if (version != BridgeFormat.VERSION) {
            throw BridgeFormatException(
                "bridge format version $version, this shell speaks ${BridgeFormat.VERSION}: the native library and the shell are from different releases",
            )
        }
        val found = buf.get().toInt() and 0xFF
        if (found != kind) throw BridgeFormatException("a payload of kind $found where kind $kind was expected")
        count = count(1)
    }

    private fun need(n: Int, what: String) {
        if (n > buf.remaining()) throw BridgeFormatException("truncated at byte ${buf.position()} ($what)")
    }

    fun u8(): Int { need(1, "byte"); return buf.get().toInt() and 0xFF }
    fun bool(): Boolean = when (u8()) { 0 -> false; 1 -> true; else -> throw BridgeFormatException("a boolean that is neither 0 nor 1") }
    fun i64(): Long { need(8, "long"); return buf.getLong() }

    /** A count of items of at least [min] bytes each. */
    fun count(min: Int): Int {
        need(4, "count")
        val n = buf.getInt().toLong() and 0xFFFFFFFFL
        if (n * min > buf.remaining()) throw BridgeFormatException("a count of $n items where fewer bytes are left")
        return n.toInt()
    }

    private fun len(): Int {
        need(4, "length")
        val n = buf.getInt()
        if (n < -1) throw BridgeFormatException("a negative length")
        if (n > buf.remaining()) throw BridgeFormatException("a length of $n bytes where ${buf.remaining()} are left")
        return n
    }

    fun optStr(): String? {
        val n = len()
        if (n == -1) return null
        // `String(bytes, UTF_8)` puts U+FFFD where bytes are not UTF-8, and the contact would
        // be written with text the server never sent. It is the fast path (the reporting
        // decoder on every string cost 7 ms of a 22 ms bridge bench); only a string with a
        // U+FFFD in it, bad bytes or a real one, goes through the decoder that reports.
        val off = buf.arrayOffset() + buf.position()
        var s = String(buf.array(), off, n, Charsets.UTF_8)
        if (s.indexOf('\uFFFD') >= 0) {
            s = try {
                utf8.decode(ByteBuffer.wrap(buf.array(), off, n)).toString()
            } catch (e: CharacterCodingException) {
                throw BridgeFormatException("a string at byte ${buf.position()} that is not UTF-8")
            }
        }
        buf.position(buf.position() + n)
        return s
    }

    fun str(): String = optStr() ?: throw BridgeFormatException("a null where a value is required")

    fun blob(): ByteArray? {
        val n = len()
        if (n == -1) return null
        return ByteArray(n).also { buf.get(it) }
    }

    fun strs(): List<String> = List(count(4)) { str() }

    fun row(): BridgeRow {
        val mimetype = str()
        val flags = u8()
        if (flags and 1.inv() != 0) throw BridgeFormatException("an unknown row flag")
        need(2, "column mask")
        val mask = buf.getShort().toInt() and 0xFFFF
        if (mask shr BridgeFormat.COLUMNS != 0) throw BridgeFormatException("a column beyond DATA10")
        val data = arrayOfNulls<String>(BridgeFormat.COLUMNS)
        for (i in 0 until BridgeFormat.COLUMNS) if (mask and (1 shl i) != 0) data[i] = str()
        return BridgeRow(mimetype, data.asList(), flags and 1 != 0)
    }

    fun rows(): List<BridgeRow> = List(count(7)) { row() }

    /** Insists the payload ended with its last record (a count that disagrees is refused). */
    fun finish() {
        if (buf.remaining() != 0) throw BridgeFormatException("${buf.remaining()} bytes after the last record")
    }
}

/** Writes one payload into a growing array. */
class BridgeWriter(kind: Int, count: Int, capacity: Int = 4096) {
    private var buf = ByteArray(capacity.coerceAtLeast(16))
    private var size = 0

    init {
        bytes(BridgeFormat.MAGIC)
        u8(BridgeFormat.VERSION)
        u8(kind)
        count(count)
    }

    private fun room(n: Int) {
        if (size + n > buf.size) buf = buf.copyOf(maxOf(buf.size * 2, size + n))
    }

    private fun bytes(b: ByteArray) { room(b.size); System.arraycopy(b, 0, buf, size, b.size); size += b.size }
    private fun int(v: Int) {
        room(4)
        buf[size] = (v ushr 24).toByte(); buf[size + 1] = (v ushr 16).toByte(); buf[size + 2] = (v ushr 8).toByte(); buf[size + 3] = v.toByte()
        size += 4
    }

    fun u8(v: Int) { room(1); buf[size++] = v.toByte() }
    fun bool(v: Boolean) = u8(if (v) 1 else 0)
    fun i64(v: Long) { int((v ushr 32).toInt()); int(v.toInt()) }
    fun count(n: Int) = int(n)
    fun optStr(s: String?) { if (s == null) int(-1) else str(s) }
    fun str(s: String) { val b = s.toByteArray(Charsets.UTF_8); int(b.size); bytes(b) }
    fun blob(b: ByteArray?) { if (b == null) int(-1) else { int(b.size); bytes(b) } }
    fun strs(items: List<String>) { count(items.size); items.forEach { str(it) } }

    fun row(mimetype: String, data: List<String?>, primary: Boolean) {
        str(mimetype)
        u8(if (primary) 1 else 0)
        var mask = 0
        for (i in 0 until minOf(data.size, BridgeFormat.COLUMNS)) if (data[i] != null) mask = mask or (1 shl i)
        room(2); buf[size] = (mask ushr 8).toByte(); buf[size + 1] = mask.toByte(); size += 2
        for (i in 0 until minOf(data.size, BridgeFormat.COLUMNS)) data[i]?.let { str(it) }
    }

    fun rows(rows: List<BridgeRow>) { count(rows.size); rows.forEach { row(it.mimetype, it.data, it.primary) } }

    fun toByteArray(): ByteArray = buf.copyOf(size)
}

/** Every payload kind, both ways: the shell uses one direction of each, the tests the other. */
object BridgeCodec {
    private inline fun <T> decode(bytes: ByteArray, kind: Int, record: (BridgeReader) -> T): List<T> {
        val r = BridgeReader(bytes, kind)
        val out = List(r.count) { record(r) }
        r.finish()
        return out
    }

    fun decodeOps(bytes: ByteArray): List<BridgeOp> = decode(bytes, BridgeFormat.KIND_OPS) { r ->
        when (val tag = r.u8()) {
            BridgeFormat.TAG_INSERT, BridgeFormat.TAG_UPDATE -> {
                val id = r.str()
                val hash = r.str()
                val rows = r.rows()
                val groups = r.strs()
                val action = r.u8()
                if (action !in BridgeFormat.PHOTO_KEEP..BridgeFormat.PHOTO_CLEAR) throw BridgeFormatException("an unknown photo action")
                val photoHash = if (action == BridgeFormat.PHOTO_SET) r.str() else null
                val photo = if (action == BridgeFormat.PHOTO_SET) r.blob() ?: throw BridgeFormatException("a photo set without bytes") else null
                val update = tag == BridgeFormat.TAG_UPDATE
                val owned = if (update) r.strs() else emptyList()
                BridgeOp.Write(update, id, hash, rows, groups, action, photoHash, photo, owned)
            }
            BridgeFormat.TAG_DELETE -> BridgeOp.Delete(r.str())
            BridgeFormat.TAG_DELETE_RAW -> BridgeOp.DeleteRaw(r.i64())
            BridgeFormat.TAG_INSERT_GROUP -> BridgeOp.InsertGroup(r.str(), r.str())
            BridgeFormat.TAG_RENAME_GROUP -> BridgeOp.RenameGroup(r.i64(), r.str())
            BridgeFormat.TAG_DELETE_GROUP -> BridgeOp.DeleteGroup(r.i64())
            else -> throw BridgeFormatException("an unknown operation tag $tag")
        }
    }

    fun encodeOps(ops: List<BridgeOp>): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_OPS, ops.size)
        for (op in ops) when (op) {
            is BridgeOp.Write -> {
                w.u8(if (op.update) BridgeFormat.TAG_UPDATE else BridgeFormat.TAG_INSERT)
                w.str(op.id); w.str(op.hash); w.rows(op.rows); w.strs(op.groupSourceIds); w.u8(op.photoAction)
                if (op.photoAction == BridgeFormat.PHOTO_SET) { w.str(op.photoHash ?: ""); w.blob(op.photo ?: ByteArray(0)) }
                if (op.update) w.strs(op.ownedMimetypes)
            }
            is BridgeOp.Delete -> { w.u8(BridgeFormat.TAG_DELETE); w.str(op.id) }
            is BridgeOp.DeleteRaw -> { w.u8(BridgeFormat.TAG_DELETE_RAW); w.i64(op.rawId) }
            is BridgeOp.InsertGroup -> { w.u8(BridgeFormat.TAG_INSERT_GROUP); w.str(op.sourceId); w.str(op.title) }
            is BridgeOp.RenameGroup -> { w.u8(BridgeFormat.TAG_RENAME_GROUP); w.i64(op.groupId); w.str(op.title) }
            is BridgeOp.DeleteGroup -> { w.u8(BridgeFormat.TAG_DELETE_GROUP); w.i64(op.groupId) }
        }
        return w.toByteArray()
    }

    private fun flags(dirty: Boolean, deleted: Boolean) = (if (dirty) 1 else 0) or (if (deleted) 2 else 0)

    private fun stateFlags(r: BridgeReader): Pair<Boolean, Boolean> {
        val f = r.u8()
        if (f and 3.inv() != 0) throw BridgeFormatException("an unknown state flag")
        return (f and 1 != 0) to (f and 2 != 0)
    }

    fun encodeIndex(entries: List<IndexRecord>): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_INDEX, entries.size, 16 + entries.size * 96)
        for (e in entries) { w.i64(e.rawId); w.str(e.sourceId); w.optStr(e.sync1); w.optStr(e.sync2); w.u8(flags(e.dirty, e.deleted)) }
        return w.toByteArray()
    }

    fun decodeIndex(bytes: ByteArray): List<IndexRecord> = decode(bytes, BridgeFormat.KIND_INDEX) { r ->
        val rawId = r.i64(); val id = r.str(); val sync1 = r.optStr(); val sync2 = r.optStr()
        val (dirty, deleted) = stateFlags(r)
        IndexRecord(rawId, id, sync1, sync2, dirty, deleted)
    }

    fun encodeGroups(groups: List<GroupRecord>): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_GROUPS, groups.size)
        for (g in groups) { w.i64(g.groupId); w.optStr(g.sourceId); w.optStr(g.title); w.u8(flags(g.dirty, g.deleted)); w.i64(g.members) }
        return w.toByteArray()
    }

    fun decodeGroups(bytes: ByteArray): List<GroupRecord> = decode(bytes, BridgeFormat.KIND_GROUPS) { r ->
        val id = r.i64(); val sourceId = r.optStr(); val title = r.optStr()
        val (dirty, deleted) = stateFlags(r)
        GroupRecord(id, sourceId, title, dirty, deleted, r.i64())
    }

    fun encodeManaged(contacts: List<ManagedRecord>): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_MANAGED, contacts.size, 16 + contacts.size * 512)
        for (c in contacts) {
            w.str(c.sourceId); w.optStr(c.sync1); w.optStr(c.sync2); w.rows(c.rows)
            w.count(c.groups.size); c.groups.forEach { (id, title) -> w.str(id); w.optStr(title) }
        }
        return w.toByteArray()
    }

    fun decodeManaged(bytes: ByteArray): List<ManagedRecord> = decode(bytes, BridgeFormat.KIND_MANAGED) { r ->
        val id = r.str(); val sync1 = r.optStr(); val sync2 = r.optStr(); val rows = r.rows()
        val groups = List(r.count(8)) { r.str() to r.optStr() }
        ManagedRecord(id, sync1, sync2, rows, groups)
    }

    fun encodePersonal(contacts: List<PersonalRecord>): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_PERSONAL, contacts.size, 16 + contacts.size * 512)
        for (c in contacts) {
            w.i64(c.rawId); w.optStr(c.accountType); w.optStr(c.accountName); w.bool(c.starred)
            w.rows(c.rows); w.strs(c.groupTitles); w.blob(c.photo)
        }
        return w.toByteArray()
    }

    fun decodePersonal(bytes: ByteArray): List<PersonalRecord> = decode(bytes, BridgeFormat.KIND_PERSONAL) { r ->
        val rawId = r.i64(); val type = r.optStr(); val name = r.optStr(); val starred = r.bool()
        PersonalRecord(rawId, type, name, starred, r.rows(), r.strs(), r.blob())
    }

    fun decodePersonalInsert(bytes: ByteArray): PersonalInsert {
        val r = BridgeReader(bytes, BridgeFormat.KIND_PERSONAL_INSERT)
        val type = r.optStr()
        val name = r.optStr()
        val contacts = List(r.count) { PersonalRecord(0, type, name, r.bool(), r.rows(), r.strs(), r.blob()) }
        r.finish()
        return PersonalInsert(type, name, contacts)
    }

    fun encodePersonalInsert(insert: PersonalInsert): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_PERSONAL_INSERT, insert.contacts.size)
        w.optStr(insert.accountType); w.optStr(insert.accountName)
        for (c in insert.contacts) { w.bool(c.starred); w.rows(c.rows); w.strs(c.groupTitles); w.blob(c.photo) }
        return w.toByteArray()
    }

    fun encodeAccounts(accounts: List<Pair<String, String>>): ByteArray {
        val w = BridgeWriter(BridgeFormat.KIND_ACCOUNTS, accounts.size)
        for ((type, name) in accounts) { w.str(type); w.str(name) }
        return w.toByteArray()
    }

    fun decodeAccounts(bytes: ByteArray): List<Pair<String, String>> =
        decode(bytes, BridgeFormat.KIND_ACCOUNTS) { r -> r.str() to r.str() }
}
