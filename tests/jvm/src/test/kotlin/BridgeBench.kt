// `mvn -f tests/jvm/pom.xml -Pbench test-compile exec:exec` (after scripts/test.sh built the
// library and bindings): what crossing JNI costs for 10,000 contacts, in batches of 500
// provider operations against one call per contact, in the same run. Prints, asserts nothing.
package app.contactsagent.sdk

fun main() {
    val n = 10_000
    val store = MemoryStore()
    val handle = JniBridge.register(store)
    repeat(3) { bridgeBenchmark(handle, 1_000) } // JIT warm-up
    val f = bridgeBenchmark(handle, n)
    JniBridge.release(handle.toLong())
    fun line(what: String, batched: Double, single: Double) =
        println("  %-8s batched %8.1f ms (%5.2f µs/contact)   one call per contact %8.1f ms   ratio %5.1fx"
            .format(what, batched, batched * 1000 / n, single, single / batched))
    println("JNI bridge, ${f.contacts} contacts, ${f.batches} batches (in-memory Kotlin store; JSON both ways)")
    println("  index read (one call): %.1f ms".format(f.indexReadMs))
    line("insert", f.batchedInsertMs, f.perContactInsertMs)
    line("read", f.batchedReadMs, f.perContactReadMs)
    line("delete", f.batchedDeleteMs, f.perContactDeleteMs)
    println("  %d empty calls: %.1f ms (%.2f µs per crossing)".format(n, f.emptyCallsMs, f.emptyCallsMs * 1000 / n))
    println("  bridge time, index read + batched insert: %.1f ms".format(f.indexReadMs + f.batchedInsertMs))
}
