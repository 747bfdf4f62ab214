package dev.edgetime.core

import java.io.File
import java.nio.file.Files as NioFiles
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** The manifest runtime check (RuntimeCheck) and model memory above a baseline (Memory.kt). */
class RuntimeMemoryTest {
    private val app = AppRuntimes(executorch = "1.5.1", onnxruntime = "1.32.0", litert = "1.4.0", litertWheel = "2.3.0")

    private fun rt(name: String, version: String): Map<String, Any?> = mapOf("name" to name, "version" to version)

    @Test
    fun executorchRefusesANewerWriterAndWarnsBeyondOneRelease() {
        val same = RuntimeCheck.check("executorch", rt("executorch", "1.5.0"), app)
        assertNull(same.error)
        assertNull(same.warning)
        val newer = RuntimeCheck.check("executorch", rt("executorch", "1.6.0"), app).error!!
        assertTrue(newer, newer.contains("executorch 1.6.0") && newer.contains("executorch-android 1.5.1"))
        assertTrue(newer, newer.contains("-PexecutorchVersion=1.6.0") && newer.contains("executorch==1.5.*"))
        assertNull(RuntimeCheck.check("executorch", rt("executorch", "1.4.2"), app).warning) // one release back: BC
        val old = RuntimeCheck.check("executorch", rt("executorch", "1.3.0"), app)
        assertNull(old.error)
        assertTrue(old.warning!!, old.warning!!.contains("more than one release newer"))
        val major = AppRuntimes("2.0.0", "1.32.0", "1.4.0", "2.3.0")
        assertNull(RuntimeCheck.check("executorch", rt("executorch", "1.9.0"), major).warning)
        assertNotNull(RuntimeCheck.check("executorch", rt("executorch", "1.8.0"), AppRuntimes("2.1.0", "", "", "")).warning)
        assertNotNull(RuntimeCheck.check("executorch", rt("executorch", "2.0.0"), app).error)
    }

    @Test
    fun onnxruntimeRefusesANewerVerifierAndPatchesNeverMatter() {
        assertNull(RuntimeCheck.check("onnx", rt("onnxruntime", "1.32.9"), app).error)
        assertNull(RuntimeCheck.check("onnx", rt("onnxruntime", "1.20.0"), app).error)
        val newer = RuntimeCheck.check("onnx", rt("onnxruntime", "1.33.0"), app).error!!
        assertTrue(newer, newer.contains("onnxruntime 1.33.0") && newer.contains("onnxruntime-android 1.32.0"))
        assertTrue(newer, newer.contains("-PonnxruntimeVersion=1.33.0"))
    }

    @Test
    fun litertOnlyWarnsAgainstTheWheelTheAppWasCheckedWith() {
        assertNull(RuntimeCheck.check("tflite", rt("ai-edge-litert", "2.3.1"), app).warning)
        val newer = RuntimeCheck.check("tflite", rt("ai-edge-litert", "2.4.0"), app)
        assertNull(newer.error)
        assertTrue(newer.warning!!, newer.warning!!.contains("2.4.0") && newer.warning!!.contains("LiteRT 1.4.0"))
    }

    @Test
    fun missingWrongOrOddRuntimes() {
        val missing = RuntimeCheck.check("executorch", emptyMap(), app)
        assertNull(missing.error)
        assertTrue(missing.warning!!, missing.warning!!.contains("records no runtime version"))
        assertTrue(RuntimeCheck.check("onnx", rt("executorch", "1.5.1"), app).error!!.contains("not onnxruntime"))
        val odd = RuntimeCheck.check("onnx", rt("onnxruntime", "main"), app)
        assertNull(odd.error)
        assertNotNull(odd.warning)
        assertEquals(Pair(2, 13), RuntimeCheck.majorMinor("2.13.0+cpu"))
        assertEquals(Pair(1, 6), RuntimeCheck.majorMinor("1.6.0.dev20250101"))
        assertNull(RuntimeCheck.majorMinor("v1"))
    }

    @Test
    fun memoryIsThePeakAboveTheBaselineTakenBeforeLoading() {
        val dir = NioFiles.createTempDirectory("memory").toFile()
        val status = File(dir, "status")
        status.writeText("Name:\tjava\nVmPeak:\t  900000 kB\nVmHWM:\t  250000 kB\nVmRSS:\t  200000 kB\nThreads:\t12\n")
        val fields = ProcStatus.parse(status.readText())
        assertEquals(250000L, fields["VmHWM"])
        assertFalse(fields.containsKey("Threads"))
        val clearRefs = File(dir, "clear_refs")
        val baseline = MemoryProbe.baseline(status, clearRefs)
        assertEquals(200000L, baseline.rssKb)
        assertTrue(baseline.peakReset)
        assertEquals("5", clearRefs.readText())
        status.writeText("VmHWM:\t  262144 kB\nVmRSS:\t  230000 kB\n") // after the run
        assertEquals(62144L, MemoryProbe.modelKb(MemoryProbe.peakKb(status), baseline))
        val nowhere = MemoryProbe.baseline(File(dir, "missing/status"), File(dir, "missing/clear_refs"))
        assertNull(nowhere.rssKb)
        assertFalse(nowhere.peakReset)
        assertNull(MemoryProbe.modelKb(262144L, nowhere))
        assertEquals(0L, MemoryProbe.modelKb(100L, MemoryBaseline(200L, false)))
        dir.deleteRecursively()
    }
}
