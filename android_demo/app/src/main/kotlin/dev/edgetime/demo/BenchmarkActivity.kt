package dev.edgetime.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import dev.edgetime.core.BenchmarkConfig
import dev.edgetime.core.DeviceInfo
import dev.edgetime.core.DeviceRunResult
import dev.edgetime.core.Json
import dev.edgetime.core.MemoryProbe
import dev.edgetime.core.Stats
import java.io.File
import kotlin.concurrent.thread

/**
 * The profiler's on-device runner. Started by `edge-time profile --adb` as
 *
 *   am start -W -n dev.edgetime.demo/.BenchmarkActivity --es bundle DIR --ei warmup N --ei runs N
 *      --ei threads N --ei batch N --ei seq_len N --es out RESULT_JSON [--ef duration_s X] [--ef hold_s X]
 *
 * it loads the bundle, times `runs` forward passes (after `warmup` untimed ones; with duration_s it
 * keeps going until that many seconds passed), writes the result JSON (schema:
 * edge_time/profiler/device_result.schema.json) atomically, and finishes — after `hold_s` idle
 * seconds, so that the profiler's idle baseline sees the same screen as the run (the profiler
 * ends it sooner with `am force-stop`). `am start -W` returns once the activity is shown, so the
 * host polls for the file. See [write] for where it lands.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val extras = intent.extras ?: Bundle()
        val bundlePath = extras.getString("bundle")
        val outPath = extras.getString("out")
        if (bundlePath == null || outPath == null) {
            Log.e(TAG, "missing --es bundle DIR and/or --es out RESULT_JSON")
            finish()
            return
        }
        val config = BenchmarkConfig(
            threads = extras.getInt("threads", 0), batch = extras.getInt("batch", 1), seqLen = extras.getInt("seq_len", 128),
            warmup = extras.getInt("warmup", 3), runs = extras.getInt("runs", 20),
            durationS = if (extras.containsKey("duration_s")) extras.getFloat("duration_s").toDouble() else null
        )
        val holdS = if (extras.containsKey("hold_s")) extras.getFloat("hold_s").toDouble() else 0.0
        thread(name = "edge-time-benchmark") {
            try {
                val result = benchmark(bundlePath, config)
                val out = write(result, outPath)
                val summary = if (result.latenciesMs.isEmpty()) "{}" else Json.write(Stats.summarize(result.latenciesMs).toMap())
                Log.i(TAG, "wrote $out (${result.status}): $summary")
            } catch (e: Throwable) {
                Log.e(TAG, "benchmark failed", e)
            } finally {
                if (holdS > 0) {  // idle, in front, until the idle baseline is over
                    try {
                        Thread.sleep((holdS * 1000).toLong())
                    } catch (e: InterruptedException) {
                    }
                }
                runOnUiThread { finish() }
            }
        }
    }

    /**
     * Write the result to `out` when the app may; apps cannot write under /data/local/tmp on
     * Android 10+ (SELinux, whatever the folder's mode), so then to
     * `<external files>/results/<file name of out>` = /sdcard/Android/data/dev.edgetime.demo/files/results/NAME.json,
     * which adb can read and delete. Either way the file appears atomically (temp file + rename).
     */
    private fun write(result: DeviceRunResult, outPath: String): File {
        val requested = File(outPath)
        try {
            result.writeAtomically(requested)
            return requested
        } catch (e: Exception) {
            val fallback = File(getExternalFilesDir("results"), requested.name)
            Log.w(TAG, "cannot write $requested (${e.message}); writing $fallback instead")
            result.writeAtomically(fallback)
            return fallback
        }
    }

    private fun benchmark(bundlePath: String, config: BenchmarkConfig): DeviceRunResult {
        val device = DeviceInfo(
            "${Build.MANUFACTURER} ${Build.MODEL}", "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
            Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown", Runtime.getRuntime().availableProcessors()
        )
        var session: BundleSession? = null
        val latencies = ArrayList<Double>()
        val starts = ArrayList<Double>()
        var loopStartedAt = System.currentTimeMillis()
        var firstMs = 0.0
        var error: String? = null
        try {
            val dir = BundleLocator.resolve(this, bundlePath)
            val opened = BundleSession(dir, config.threads)
            session = opened
            val rows = List(config.batch) { Filler.text(opened, config.seqLen) }
            val (inputs, graph) = opened.inputs(rows, config.seqLen)
            firstMs = timed { opened.run(inputs, graph) }
            repeat(config.warmup) { opened.run(inputs, graph) }
            opened.runtimeWarning?.let { Log.w(TAG, it) }
            loopStartedAt = System.currentTimeMillis()
            val loopT0 = System.nanoTime()
            val deadline = config.durationS?.let { loopT0 + (it * 1e9).toLong() }
            var i = 0
            while (i < config.runs || (deadline != null && System.nanoTime() < deadline)) {
                starts.add((System.nanoTime() - loopT0) / 1e6)  // the report's latency-over-time timeline
                latencies.add(timed { opened.run(inputs, graph) })
                i++
            }
        } catch (e: Throwable) {
            error = "${e.javaClass.simpleName}: ${e.message}"
            Log.e(TAG, "benchmark failed", e)
        }
        val s = session
        val peak = MemoryProbe.peakKb()
        s?.let { Log.i(TAG, "model memory ${MemoryProbe.modelKb(peak, it.memoryBefore)} kB above the baseline") }
        val result = DeviceRunResult(
            status = if (error == null) "ok" else if (latencies.isNotEmpty()) "partial" else "error",
            error = error, bundlePath = bundlePath,
            target = s?.manifest?.target ?: "executorch", quantization = s?.manifest?.quantization ?: "none",
            task = s?.manifest?.task ?: "", manifestSha256 = s?.manifestSha256 ?: "0".repeat(64),
            device = device, config = config, loadMs = s?.loadMs ?: 0.0, firstInferenceMs = firstMs,
            latenciesMs = latencies.toDoubleArray(), peakMemoryKb = peak,
            startedAtMs = loopStartedAt, finishedAtMs = System.currentTimeMillis(), runnerVersion = BuildConfigInfo.VERSION,
            latencyStartsMs = starts.toDoubleArray(), rssBeforeLoadKb = s?.memoryBefore?.rssKb,
            peakReset = s?.memoryBefore?.peakReset, runtime = s?.runtimeInfo()
        )
        s?.close()
        return result
    }

    private inline fun timed(block: () -> Unit): Double {
        val started = System.nanoTime()
        block()
        return (System.nanoTime() - started) / 1e6
    }

    companion object {
        const val TAG = "EdgeTimeBenchmark"
    }
}

object BuildConfigInfo {
    const val VERSION = "0.1.0"
}

/**
 * Benchmark input text: words of a fixed sentence, cycled, as many as fit in `seq_len` tokens with the
 * specials (each row then has seq_len positions, at most a word's tokens of them padding).
 */
object Filler {
    private val WORDS = "The quick brown fox jumps over the lazy dog near Prague , München and Paris .".split(" ")

    fun text(session: BundleSession, seqLen: Int): String {
        if (seqLen > session.manifest.maxLength) {
            throw IllegalArgumentException("seq_len $seqLen exceeds the bundle's max_length ${session.manifest.maxLength}")
        }
        val words = ArrayList<String>()
        while (true) {
            words.add(WORDS[words.size % WORDS.size])
            if (session.countTokens(words.joinToString(" ")) > seqLen) {
                words.removeAt(words.size - 1)
                return words.joinToString(" ")
            }
        }
    }
}
