@file:JvmName("ResultCli")

package dev.edgetime.core

import java.io.File

/**
 * `java -cp core.jar dev.edgetime.core.ResultCli OUT.json MANIFEST_SHA256 LATENCY_MS...`
 *
 * Writes a device-run result from fixed latencies with the same code the BenchmarkActivity uses, and
 * prints the latency summary as JSON, so tests/android can validate both against the Python side.
 */
fun main(args: Array<String>) {
    if (args.size < 3) {
        System.err.println("usage: ResultCli OUT.json MANIFEST_SHA256 LATENCY_MS...")
        System.exit(2)
    }
    val latencies = args.drop(2).map { it.toDouble() }.toDoubleArray()
    val result = DeviceRunResult(
        status = "ok", error = null, bundlePath = "/data/local/tmp/edge_time/bundles/demo",
        target = "executorch", quantization = "none", task = "ner", manifestSha256 = args[1],
        device = DeviceInfo("jvm", System.getProperty("os.name") ?: "unknown", System.getProperty("os.arch") ?: "unknown",
            Runtime.getRuntime().availableProcessors()),
        config = BenchmarkConfig(threads = 2, batch = 1, seqLen = 32, warmup = 1, runs = latencies.size, durationS = null),
        loadMs = 12.5, firstInferenceMs = latencies[0] * 2, latenciesMs = latencies, peakMemoryKb = 1024L,
        startedAtMs = 1_700_000_000_000L, finishedAtMs = 1_700_000_001_000L, runnerVersion = "core-test",
        latencyStartsMs = DoubleArray(latencies.size) { i -> latencies.take(i).sum() }, rssBeforeLoadKb = 512L,
        peakReset = true, runtime = linkedMapOf("name" to "executorch-android", "version" to "1.5.1",
            "bundle_runtime" to linkedMapOf("name" to "executorch", "version" to "1.5.1"), "warning" to null)
    )
    result.writeAtomically(File(args[0]))
    println(Json.write(Stats.summarize(latencies).toMap()))
}
