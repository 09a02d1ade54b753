// Manifests and XML resources are well-formed, and every component they name exists and is
// of the right Android type (loaded from the compiled classes against android-all).
package app.contactsagent.android

import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.w3c.dom.Element
import java.io.File
import javax.xml.parsers.DocumentBuilderFactory

class ManifestTest {
    private val repo = File(System.getProperty("contacts.repo"))
    private val ns = "http://schemas.android.com/apk/res/android"

    private fun parse(f: File) = DocumentBuilderFactory.newInstance().apply { isNamespaceAware = true }
        .newDocumentBuilder().parse(f)

    private fun components(manifest: File): List<Pair<String, String>> {
        val doc = parse(manifest)
        return listOf("activity", "service", "receiver", "provider").flatMap { tag ->
            val nodes = doc.getElementsByTagName(tag)
            (0 until nodes.length).map { tag to (nodes.item(it) as Element).getAttributeNS(ns, "name") }
        }
    }

    @Test
    fun `every component the manifests name exists and has the right base class`() {
        val expected = mapOf(
            "activity" to android.app.Activity::class.java,
            "service" to android.app.Service::class.java,
            "receiver" to android.content.BroadcastReceiver::class.java,
        )
        val manifests = listOf(File(repo, "android/src/main/AndroidManifest.xml"), File(repo, "android/example/src/main/AndroidManifest.xml"))
        val all = manifests.flatMap { components(it) }
        assertTrue(all.size >= 4, "$all")
        for ((tag, name) in all) {
            val cls = Class.forName(name, false, javaClass.classLoader)
            assertTrue(expected.getValue(tag).isAssignableFrom(cls), "$name is not a $tag")
        }
    }

    @Test
    fun `xml resources parse and every resource reference resolves`() {
        val res = File(repo, "android/src/main/res")
        val files = res.walk().filter { it.isFile && it.extension == "xml" }.toList() +
            File(repo, "android/src/main/AndroidManifest.xml")
        val strings = parse(File(res, "values/strings.xml")).getElementsByTagName("string")
        val names = (0 until strings.length).map { (strings.item(it) as Element).getAttribute("name") }.toSet()
        for (f in files) {
            val text = f.readText()
            parse(f) // well-formed
            Regex("@(xml|string)/([a-z_]+)").findAll(text).forEach { m ->
                val (kind, name) = m.destructured
                val ok = if (kind == "xml") File(res, "xml/$name.xml").isFile else name in names
                assertTrue(ok, "${f.name} refers to @$kind/$name, which does not exist")
            }
        }
    }
}
