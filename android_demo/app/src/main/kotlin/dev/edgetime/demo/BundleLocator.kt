package dev.edgetime.demo

import android.content.Context
import dev.edgetime.core.BundleException
import dev.edgetime.core.Bundles
import dev.edgetime.core.MANIFEST_NAME
import dev.edgetime.core.Manifest
import java.io.File

/**
 * Where bundles live on the phone, and how a pushed bundle becomes readable by the app.
 *
 *  - `/data/local/tmp/edge_time/bundles/NAME/` (what `edge-time profile --adb` pushes): used in place
 *    when the app can read it; most devices let apps read, never write, world-readable files there.
 *  - otherwise the files the manifest lists are copied to `files/bundles/NAME/` (private storage);
 *  - `/sdcard/Android/data/dev.edgetime.demo/files/bundles/NAME/` (adb can push there without root)
 *    and `files/bundles/NAME/` are listed by the demo's bundle picker too.
 */
object BundleLocator {
    const val PUSHED_ROOT = "/data/local/tmp/edge_time/bundles"

    fun roots(context: Context): List<File> = listOfNotNull(
        File(PUSHED_ROOT), context.getExternalFilesDir("bundles"), File(context.filesDir, "bundles")
    )

    /** Bundle folders (with a manifest.json) the app can see, by name. */
    fun list(context: Context): List<File> = roots(context).flatMap { root ->
        (root.listFiles() ?: emptyArray()).filter { File(it, MANIFEST_NAME).canRead() }
    }.sortedBy { it.name }

    /** A readable bundle folder for [path] (absolute, or a bare NAME looked up in [roots]). */
    fun resolve(context: Context, path: String): File {
        val candidates = if (path.startsWith("/")) listOf(File(path)) else roots(context).map { File(it, path) }
        for (dir in candidates) {
            if (File(dir, MANIFEST_NAME).canRead()) return dir
        }
        val dir = candidates.first()
        return copyIntoApp(context, dir)
    }

    /** Copy the manifest and every file it lists (no directory listing needed) into private storage. */
    private fun copyIntoApp(context: Context, source: File): File {
        val manifestFile = File(source, MANIFEST_NAME)
        val text = try {
            manifestFile.readText(Charsets.UTF_8)
        } catch (e: Exception) {
            throw BundleException(
                "cannot read $manifestFile (${e.javaClass.simpleName}); push the bundle to " +
                    "/sdcard/Android/data/${context.packageName}/files/bundles/${source.name}/ instead"
            )
        }
        val manifest = Manifest.parse(text)
        val target = File(File(context.filesDir, "bundles"), source.name)
        val staging = File(target.parentFile, ".${source.name}.tmp")
        staging.deleteRecursively()
        staging.mkdirs()
        for (rel in manifest.files.keys) {
            val from = Bundles.safeJoin(source, rel)
            from.copyTo(Bundles.safeJoin(staging, rel), overwrite = true)
        }
        File(staging, MANIFEST_NAME).writeText(text, Charsets.UTF_8)
        target.deleteRecursively()
        if (!staging.renameTo(target)) throw BundleException("cannot move the copied bundle into $target")
        return target
    }
}
