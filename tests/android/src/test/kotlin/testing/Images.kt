package app.contactsagent.testing

import java.awt.Color
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import javax.imageio.ImageIO

/** Real, decodable images (the provider drops what it cannot decode), different per [seed]. */
object Images {
    fun jpeg(seed: Int, size: Int = 24): ByteArray {
        val img = BufferedImage(size, size, BufferedImage.TYPE_INT_RGB)
        val g = img.createGraphics()
        g.color = Color((seed * 47) and 0xFF, (seed * 91) and 0xFF, (seed * 13) and 0xFF)
        g.fillRect(0, 0, size, size)
        g.color = Color.WHITE
        g.fillRect(seed % size, 0, 2, size)
        g.dispose()
        return ByteArrayOutputStream().also { ImageIO.write(img, "jpg", it) }.toByteArray()
    }
}
