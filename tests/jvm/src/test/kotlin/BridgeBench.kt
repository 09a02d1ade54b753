// The JNI bridge's cost for 10,000 contacts, binary layout against the JSON it replaced, in
// the same run (prints, asserts nothing). Needs the library built with the bench's JSON side:
//   cargo build --release --features bridge-json-bench
//   mvn -f tests/jvm/pom.xml -Pbench -Dcontacts.lib.dir=$PWD/target/release test-compile exec:exec
// (bindings generated as scripts/test.sh does). Both sides use the same synthetic contacts,
// batches of ≤ 499 provider operations and an in-memory Kotlin store that decodes every
// operation and keeps its rows: binary through `bridgeBenchmark` (the product's JniStore and
// BridgeCodec), JSON through `benches/jvm/bridge_json.rs` (serde_json) and org.json.
package app.contactsagent.sdk

import org.json.JSONArray
import org.json.JSONObject
import java.util.TreeMap

/** The bench's JSON side, linked only into a `bridge-json-bench` build. */
object BridgeJsonBench {
    init {
        JniBridge.ensureLoaded()
    }

    /** Milliseconds to encode and apply the synthetic inserts through [JsonMemoryStore.applyBatchJson]. */
    @JvmStatic external fun insert(store: Any, contacts: Int): Double

    /** Milliseconds to read and parse [JsonMemoryStore.managedIndexJson] (negative: did not parse). */
    @JvmStatic external fun index(store: Any): Double
}

/** The in-memory store as it was before the binary layout: org.json both ways. */
class JsonMemoryStore {
    private class Managed(val rawId: Long, val hash: String, val photoHash: String?, val rows: JSONArray)

    private val managed = TreeMap<String, Managed>()
    private var nextRaw = 1L

    fun clear() = managed.clear()

    fun applyBatchJson(ops: ByteArray) {
        val arr = JSONArray(String(ops))
        val list = (0 until arr.length()).map { arr.getJSONObject(it) }
        for (op in list) {
            val id = op.getString("id")
            when (op.getString("op")) {
                "insert" -> check(!managed.containsKey(id)) { "insert of an existing contact" }
                "update" -> check(managed.containsKey(id)) { "update of a missing contact" }
            }
        }
        for (op in list) {
            val id = op.getString("id")
            if (op.getString("op") == "delete") {
                managed.remove(id)
                continue
            }
            val photo = if (op.getString("photo_action") == "set") op.getString("photo_hash") else managed[id]?.photoHash
            managed[id] = Managed(managed[id]?.rawId ?: nextRaw++, op.getString("hash"), photo, op.getJSONArray("rows"))
        }
    }

    fun managedIndexJson(): ByteArray {
        val out = JSONArray()
        for ((id, m) in managed) {
            out.put(JSONObject().put("raw_id", m.rawId).put("id", id).put("hash", m.hash).put("photo_hash", m.photoHash ?: JSONObject.NULL).put("state", "clean"))
        }
        return out.toString().toByteArray()
    }

    val size get() = managed.size
}

private class Round(val index: Double, val insert: Double) {
    val bridge get() = index + insert
}

fun main() {
    val n = 10_000
    val rounds = 5
    val store = MemoryStore()
    val handle = JniBridge.register(store)
    val json = JsonMemoryStore()
    // JIT warm-up of both paths.
    repeat(3) {
        bridgeBenchmark(handle, 1_000)
        BridgeJsonBench.insert(json, 1_000)
        BridgeJsonBench.index(json)
        json.clear()
    }
    val binary = ArrayList<Round>()
    val jsonRounds = ArrayList<Round>()
    var last: BridgeBenchmark? = null
    // Interleaved, so a neighbour's build slows both alike.
    repeat(rounds) {
        val f = bridgeBenchmark(handle, n)
        last = f
        binary += Round(f.indexReadMs, f.batchedInsertMs)
        val insert = BridgeJsonBench.insert(json, n)
        check(json.size == n) { "the JSON store lost contacts" }
        val index = BridgeJsonBench.index(json)
        check(index >= 0) { "the JSON index did not parse" }
        jsonRounds += Round(index, insert)
        json.clear()
    }
    JniBridge.release(handle)
    val f = last!!
    fun best(list: List<Round>) = list.minBy { it.bridge }
    fun median(list: List<Round>) = list.map { it.bridge }.sorted()[list.size / 2]
    val b = best(binary)
    val j = best(jsonRounds)
    fun us(ms: Double) = ms * 1000 / n
    println("JNI bridge, $n contacts, ${f.batches} batches of ≤ 499 operations (in-memory Kotlin store), best of $rounds rounds interleaved")
    println("                     binary layout               JSON (serde_json + org.json)     JSON / binary")
    println("  index read        %7.1f ms (%5.2f µs/contact)   %7.1f ms (%5.2f µs/contact)   %5.1fx".format(b.index, us(b.index), j.index, us(j.index), j.index / b.index))
    println("  batched insert    %7.1f ms (%5.2f µs/contact)   %7.1f ms (%5.2f µs/contact)   %5.1fx".format(b.insert, us(b.insert), j.insert, us(j.insert), j.insert / b.insert))
    println("  bridge time       %7.1f ms (%5.2f µs/contact)   %7.1f ms (%5.2f µs/contact)   %5.1fx   (target ≤ 50 ms)".format(b.bridge, us(b.bridge), j.bridge, us(j.bridge), j.bridge / b.bridge))
    println("  median bridge     %7.1f ms                      %7.1f ms".format(median(binary), median(jsonRounds)))
    println("Binary, last round: batched read %.1f ms, batched delete %.1f ms; one call per contact: insert %.1f ms, read %.1f ms, delete %.1f ms"
        .format(f.batchedReadMs, f.batchedDeleteMs, f.perContactInsertMs, f.perContactReadMs, f.perContactDeleteMs))
    println("  %d empty calls: %.1f ms (%.2f µs per crossing)".format(n, f.emptyCallsMs, f.emptyCallsMs * 1000 / n))
}
