package dev.edgetime.core

import java.io.File
import org.junit.Assume

/** The folder tests/android/test_core_kotlin.py generates with Python (ids, spans, stats, manifests). */
object Fixtures {
    val dir: File? get() = (System.getProperty("edgetime.vectors") ?: System.getenv("EDGETIME_VECTORS"))?.let { File(it) }

    /** The generated folder; tests that need Python's answers are skipped when none was passed. */
    fun require(): File {
        val d = dir
        Assume.assumeTrue("pass -Dedgetime.vectors=DIR (tests/android generates it)", d != null)
        if (!d!!.isDirectory) throw AssertionError("edgetime.vectors=$d is not a folder")
        return d
    }

    fun json(name: String): Any? = Json.parse(File(require(), name).readText(Charsets.UTF_8))
}
