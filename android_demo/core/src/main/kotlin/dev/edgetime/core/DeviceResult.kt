package dev.edgetime.core

import java.io.File
import java.io.IOException

/**
 * The on-device run result, `edge_time/profiler/device_result.schema.json` (v1). The schema is defined
 * once, in Python; tests/android runs [ResultCli] and validates what this class writes against it.
 */
object DeviceResultSchema {
    const val SCHEMA = "edge-time/device-run"
    const val VERSION = 1
    const val RUNNER = "android-app"
    val STATUSES = listOf("ok", "error", "partial")
}

class BenchmarkConfig(
    val threads: Int,
    val batch: Int,
    val seqLen: Int,
    val warmup: Int,
    val runs: Int,
    val durationS: Double?
) {
    fun toMap(): Map<String, Any?> = linkedMapOf(
        "threads" to threads, "batch" to batch, "seq_len" to seqLen, "warmup" to warmup, "runs" to runs,
        "duration_s" to durationS
    )
}

class DeviceInfo(val model: String, val os: String, val abi: String, val cores: Int) {
    fun toMap(): Map<String, Any?> = linkedMapOf("model" to model, "os" to os, "abi" to abi, "cores" to cores)
}

class DeviceRunResult(
    val status: String,
    val error: String?,
    val bundlePath: String,
    val target: String,
    val quantization: String,
    val task: String,
    val manifestSha256: String,
    val device: DeviceInfo?,
    val config: BenchmarkConfig,
    val loadMs: Double,
    val firstInferenceMs: Double,
    val latenciesMs: DoubleArray,
    val peakMemoryKb: Long?,
    val startedAtMs: Long,
    val finishedAtMs: Long,
    val runnerVersion: String,
    val latencyStartsMs: DoubleArray? = null,
    val rssBeforeLoadKb: Long? = null,
    val peakReset: Boolean? = null,
    val runtime: Map<String, Any?>? = null
) {
    init {
        require(status in DeviceResultSchema.STATUSES) { "status must be one of ${DeviceResultSchema.STATUSES}" }
        require(target in TARGETS) { "target '$target' is not one of $TARGETS" }
        require(quantization in QUANTIZATIONS) { "quantization '$quantization' is not one of $QUANTIZATIONS" }
        require(Regex("[0-9a-f]{64}").matches(manifestSha256)) { "manifest_sha256 must be 64 lowercase hex digits" }
    }

    fun toMap(): Map<String, Any?> {
        val map = LinkedHashMap<String, Any?>()
        map["schema"] = DeviceResultSchema.SCHEMA
        map["schema_version"] = DeviceResultSchema.VERSION
        map["runner"] = DeviceResultSchema.RUNNER
        map["runner_version"] = runnerVersion
        map["status"] = status
        map["error"] = error
        map["bundle"] = linkedMapOf(
            "path" to bundlePath, "target" to target, "quantization" to quantization, "task" to task,
            "manifest_sha256" to manifestSha256
        )
        if (device != null) map["device"] = device.toMap()
        map["config"] = config.toMap()
        map["load_ms"] = nonNegative(loadMs)
        map["first_inference_ms"] = nonNegative(firstInferenceMs)
        map["latencies_ms"] = latenciesMs.map { nonNegative(it) }
        if (latencyStartsMs != null) map["latency_starts_ms"] = latencyStartsMs.map { nonNegative(it) }
        map["peak_memory_kb"] = peakMemoryKb
        map["rss_before_load_kb"] = rssBeforeLoadKb
        if (peakReset != null) map["peak_reset"] = peakReset
        if (runtime != null) map["runtime"] = runtime
        map["started_at_ms"] = startedAtMs
        map["finished_at_ms"] = finishedAtMs
        return map
    }

    private fun nonNegative(value: Double): Double = if (value.isNaN() || value < 0.0) 0.0 else value

    fun toJson(): String = Json.write(toMap(), indent = 2) + "\n"

    /** Write to [out] atomically: a temp file beside it, then a rename (a reader never sees half a file). */
    fun writeAtomically(out: File) = Files.writeAtomically(out, toJson())
}

object Files {
    fun writeAtomically(out: File, text: String) {
        val parent = out.absoluteFile.parentFile
        if (parent != null && !parent.isDirectory && !parent.mkdirs()) throw IOException("cannot create folder $parent")
        val tmp = File(parent, ".${out.name}.${System.nanoTime()}.tmp")
        try {
            tmp.writeText(text, Charsets.UTF_8)
            if (!tmp.renameTo(out)) throw IOException("cannot rename $tmp to $out")
        } finally {
            if (tmp.exists()) tmp.delete()
        }
    }
}
