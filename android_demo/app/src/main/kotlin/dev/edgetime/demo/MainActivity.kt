package dev.edgetime.demo

import android.app.Activity
import android.graphics.Color
import android.graphics.Typeface
import android.os.Bundle
import android.text.SpannableStringBuilder
import android.text.Spanned
import android.text.style.BackgroundColorSpan
import android.text.style.StyleSpan
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.Spinner
import android.widget.TextView
import dev.edgetime.core.Stats
import java.io.File
import java.util.concurrent.Executors

/**
 * Pick a bundle, type a sentence, see each word with its entity (BIO) or part-of-speech tag, the
 * entities, and the latency of every run. "Self-check" replays the bundle's test vectors on the phone.
 */
class MainActivity : Activity() {
    private val worker = Executors.newSingleThreadExecutor()
    private var session: BundleSession? = null
    private val latencies = ArrayList<Double>()
    private lateinit var bundles: List<File>
    private lateinit var output: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        output = findViewById(R.id.output)
        val picker = findViewById<Spinner>(R.id.bundle_picker)
        val input = findViewById<EditText>(R.id.input_text)
        bundles = BundleLocator.list(this)
        picker.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, bundles.map { it.name })
        if (bundles.isEmpty()) output.text = getString(R.string.no_bundles, BundleLocator.PUSHED_ROOT, getExternalFilesDir("bundles"))
        findViewById<Button>(R.id.run_button).setOnClickListener {
            val dir = bundles.getOrNull(picker.selectedItemPosition) ?: return@setOnClickListener
            val text = input.text.toString()
            background { show(open(dir).predict(text)) }
        }
        findViewById<Button>(R.id.check_button).setOnClickListener {
            val dir = bundles.getOrNull(picker.selectedItemPosition) ?: return@setOnClickListener
            background {
                val failures = open(dir).selfCheck()
                val message = if (failures.isEmpty()) getString(R.string.self_check_ok)
                else getString(R.string.self_check_failed, failures.size) + "\n" + failures.take(5).joinToString("\n")
                runOnUiThread { output.text = message }
            }
        }
    }

    private fun open(dir: File): BundleSession {
        val current = session
        if (current != null && current.dir == dir) return current
        current?.close()
        latencies.clear()
        return BundleSession(dir, threads = 0).also { session = it }
    }

    private fun background(block: () -> Unit) = worker.execute {
        try {
            block()
        } catch (e: Throwable) {
            runOnUiThread { output.text = "${e.javaClass.simpleName}: ${e.message}" }
        }
    }

    private fun show(p: Prediction) {
        latencies.add(p.latencyMs)
        val text = SpannableStringBuilder()
        val inSpan = HashSet<Int>()
        p.spans.forEach { span -> (span.first..span.last).forEach { inSpan.add(it) } }
        for ((i, unit) in p.units.withIndex()) {
            val start = text.length
            text.append(unit)
            if (i in inSpan) text.setSpan(BackgroundColorSpan(Color.rgb(255, 236, 160)), start, text.length, Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
            p.labels.getOrNull(i)?.let { label ->
                val tagStart = text.length
                text.append("/").append(label)
                text.setSpan(StyleSpan(Typeface.ITALIC), tagStart, text.length, Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
            }
            text.append(' ')
        }
        text.append("\n\n")
        for (span in p.spans) text.append("${span.type}: ${p.units.subList(span.first, span.last + 1).joinToString(" ")}\n")
        p.classLabel?.let { text.append("class: $it\n") }
        val summary = Stats.summarize(latencies.toDoubleArray())
        text.append(
            getString(
                R.string.latency_line, p.latencyMs, latencies.size, summary.p50, summary.p90,
                session?.manifest?.target ?: "", session?.manifest?.quantization ?: "", p.summary
            )
        )
        text.append("\n").append(latencies.takeLast(10).joinToString(" ") { String.format("%.1f", it) })
        runOnUiThread { output.text = text }
    }

    override fun onDestroy() {
        worker.shutdownNow()
        session?.close()
        super.onDestroy()
    }
}
