package dev.edgetime.core

import java.io.File

/**
 * Model memory measured as the host runner (edge_time/profiler/runner.py) measures it: resident
 * memory (VmRSS) sampled just before the runtime loads the graph, the peak (VmHWM) restarted there
 * (`echo 5 > /proc/self/clear_refs`, Linux >= 4.0), and the peak read after the timed loop; the
 * model's share is peak minus baseline. Paths are parameters so the JVM tests use temp files.
 */
class MemoryBaseline(val rssKb: Long?, val peakReset: Boolean)

object ProcStatus {
    /** `Name:   1234 kB` lines of /proc/self/status -> name to kB (only the kB-valued ones). */
    fun parse(text: String): Map<String, Long> {
        val fields = LinkedHashMap<String, Long>()
        for (line in text.lines()) {
            val m = Regex("^(\\w+):\\s+(\\d+)\\s+kB\\s*$").find(line) ?: continue
            fields[m.groupValues[1]] = m.groupValues[2].toLong()
        }
        return fields
    }

    fun read(file: File): Map<String, Long> = try {
        parse(file.readText(Charsets.US_ASCII))
    } catch (e: Exception) {
        emptyMap()
    }
}

object MemoryProbe {
    val STATUS = File("/proc/self/status")
    val CLEAR_REFS = File("/proc/self/clear_refs")

    /** VmRSS now, then restart VmHWM from it; call right before the runtime load. */
    fun baseline(status: File = STATUS, clearRefs: File = CLEAR_REFS): MemoryBaseline {
        val rss = ProcStatus.read(status)["VmRSS"]
        val reset = try {
            clearRefs.writeText("5", Charsets.US_ASCII)
            true
        } catch (e: Exception) {  // older kernel or a sandbox that forbids it: the peak then includes startup
            false
        }
        return MemoryBaseline(rss, reset)
    }

    fun peakKb(status: File = STATUS): Long? = ProcStatus.read(status)["VmHWM"]

    /** What loading and running the model cost: peak above the baseline (never negative). */
    fun modelKb(peakKb: Long?, baseline: MemoryBaseline): Long? =
        if (peakKb == null || baseline.rssKb == null) null else maxOf(0L, peakKb - baseline.rssKb)
}
