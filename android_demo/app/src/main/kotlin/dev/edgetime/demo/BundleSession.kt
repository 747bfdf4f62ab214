package dev.edgetime.demo

import dev.edgetime.core.AppRuntimes
import dev.edgetime.core.BundleException
import dev.edgetime.core.Bundles
import dev.edgetime.core.Decoding
import dev.edgetime.core.GraphFile
import dev.edgetime.core.HfTokenizer
import dev.edgetime.core.MANIFEST_NAME
import dev.edgetime.core.Manifest
import dev.edgetime.core.MemoryBaseline
import dev.edgetime.core.MemoryProbe
import dev.edgetime.core.RuntimeCheck
import dev.edgetime.core.Span
import dev.edgetime.core.TestVectors
import dev.edgetime.core.TextEncoder
import dev.edgetime.core.WordInputs
import java.io.File

/** What one text became: its words (or tokens), a label per word, entity spans, and the run time. */
class Prediction(
    val units: List<String>,
    val labels: List<String>,
    val spans: List<Span>,
    val classLabel: String?,
    val latencyMs: Double,
    val summary: String
)

/**
 * A bundle opened on the phone: manifest (validated, hash-checked, its runtime version checked
 * against the app's), the Kotlin tokenizer read from the bundle's tokenizer.json, and one runner
 * per model file. Inputs are built exactly as the Python runtime builds them (TextEncoder,
 * word_inputs), so outputs match the bundle's test vectors.
 *
 * [loadMs] and [memoryBefore] are taken as the host runner takes them: after hashing and the
 * tokenizer, around the runtime's load of the first graph only.
 */
class BundleSession(val dir: File, val threads: Int) : AutoCloseable {
    val manifest: Manifest = Bundles.readManifest(dir, verify = true)
    val manifestSha256: String = Bundles.sha256(File(dir, MANIFEST_NAME))
    val encoder: TextEncoder
    val runtimeWarning: String?
    val memoryBefore: MemoryBaseline
    val loadMs: Double
    private val runners = HashMap<String, ModelRunner>()
    private val wordTask = manifest.inputs.any { it.name == "word_pool" }
    private val pooling = manifest.taskConfig["pooling"] as? String ?: "mean"
    private val rootRow = manifest.taskConfig["root_row"] == true

    init {
        val verdict = RuntimeCheck.check(manifest.target, manifest.runtime, APP_RUNTIMES)
        verdict.error?.let { throw BundleException(it) }
        runtimeWarning = verdict.warning
        val tokenizerJson = Bundles.safeJoin(dir, manifest.tokenizer.file).readText(Charsets.UTF_8)
        encoder = TextEncoder(HfTokenizer.fromJson(tokenizerJson), manifest.tokenizer, manifest.maxLength)
        memoryBefore = MemoryProbe.baseline()
        val started = System.nanoTime()
        runnerFor(manifest.graphs.first())
        loadMs = (System.nanoTime() - started) / 1e6
    }

    /** The runtime that runs this bundle here, and what the check said: the result's `runtime`. */
    fun runtimeInfo(): Map<String, Any?> {
        val (name, version) = when (manifest.target) {
            "executorch" -> Pair("executorch-android", APP_RUNTIMES.executorch)
            "onnx" -> Pair("onnxruntime-android", APP_RUNTIMES.onnxruntime)
            else -> Pair("litert", APP_RUNTIMES.litert)
        }
        return linkedMapOf("name" to name, "version" to version, "bundle_runtime" to manifest.runtime, "warning" to runtimeWarning)
    }

    private fun runnerFor(graph: GraphFile): ModelRunner =
        runners.getOrPut(graph.file) { ModelRunner.open(Bundles.safeJoin(dir, graph.file), manifest, threads) }

    /** Graph inputs for [rows] (texts, or whitespace words for word tasks), padded to [seqLen] or a bucket. */
    fun inputs(rows: List<String>, seqLen: Int? = null): Pair<List<InputTensor>, GraphFile> {
        val words = rows.map { Decoding.splitWords(it) }
        fun encode(width: Int?) = if (wordTask) encoder.encodeWords(words, width) else encoder.encode(rows, width)
        var batch = encode(seqLen)
        val graph = manifest.graphFor(batch.seqLen)
        if (graph.seqLen != null && graph.seqLen != batch.seqLen) batch = encode(graph.seqLen)
        if (graph.batch != null && graph.batch != rows.size) {
            throw BundleException("this model file takes batch ${graph.batch}, not ${rows.size}; pass --ei batch ${graph.batch}")
        }
        val shape = longArrayOf(rows.size.toLong(), batch.seqLen.toLong())
        val tensors = ArrayList<InputTensor>()
        var word: WordInputs? = null
        if (wordTask) {
            val ids = (0 until rows.size).map { r ->
                val w = batch.encodings[r].wordIds
                IntArray(batch.seqLen) { t -> if (t < w.size) w[t] else -1 }
            }
            val fixed = seqLen != null || graph.seqLen != null
            word = WordInputs.build(ids, words.map { it.size }.toIntArray(), pooling, rootRow, if (fixed) batch.seqLen else null)
        }
        for (spec in manifest.inputs) {
            tensors.add(
                when (spec.name) {
                    "word_pool" -> InputTensor(spec.name, longArrayOf(rows.size.toLong(), word!!.width.toLong(), batch.seqLen.toLong()), floats = word.pool)
                    "word_mask" -> InputTensor(spec.name, longArrayOf(rows.size.toLong(), word!!.width.toLong()), longs = word.mask)
                    else -> InputTensor(spec.name, shape, longs = batch.named(spec.name))
                }
            )
        }
        return Pair(tensors, graph)
    }

    /** Tokens (specials included, no truncation) that [text] becomes in this bundle's input mode. */
    fun countTokens(text: String): Int =
        if (wordTask) encoder.tokenizer.encodeWords(Decoding.splitWords(text), Int.MAX_VALUE).ids.size
        else encoder.tokenizer.encode(text, Int.MAX_VALUE).ids.size

    fun run(inputs: List<InputTensor>, graph: GraphFile): Map<String, OutputTensor> =
        manifest.outputs.map { it.name }.zip(runnerFor(graph).run(inputs)).toMap()

    /** Tokenize, run and decode one text (NER spans, UD part-of-speech tags, a class, or encoder shape). */
    fun predict(text: String): Prediction {
        val (inputs, graph) = inputs(listOf(text))
        val started = System.nanoTime()
        val outputs = run(inputs, graph)
        val latency = (System.nanoTime() - started) / 1e6
        val words = Decoding.splitWords(text)
        return when (manifest.task) {
            "ner" -> {
                val tags = argmaxLabels(outputs.getValue("tags"), "tags", 0, words.size)
                Prediction(words, tags, Decoding.bioSpans(tags), null, latency, "${Decoding.bioSpans(tags).size} entities")
            }
            "ud" -> {
                val offset = if (rootRow) 1 else 0
                val upos = argmaxLabels(outputs.getValue("upos"), "upos", offset, words.size)
                Prediction(words, upos, emptyList(), null, latency, "UPOS tags")
            }
            "cls" -> {
                val logits = outputs.getValue("logits")
                val names = manifest.labels["labels"] ?: emptyList()
                val best = Decoding.argmax(logits.data, 0, logits.data.size)
                val label = names.getOrElse(best) { "#$best" }
                Prediction(words, emptyList(), emptyList(), label, latency, "class $label")
            }
            else -> {
                val tokens = encoder.encode(listOf(text)).encodings[0].tokens
                val first = outputs.values.first()
                Prediction(tokens, emptyList(), emptyList(), null, latency, "output shape ${first.shape.toList()}")
            }
        }
    }

    private fun argmaxLabels(output: OutputTensor, labelSet: String, offset: Int, count: Int): List<String> {
        val width = output.shape.last().toInt()
        val names = manifest.labels[labelSet] ?: emptyList()
        return (0 until count).map { i ->
            val best = Decoding.argmax(output.data, (offset + i) * width, width)
            names.getOrElse(best) { "#$best" }
        }
    }

    /**
     * Check this phone against the bundle's test_vectors.json: the Kotlin token ids must equal Python's,
     * and the model outputs must match what the exported graph returned on the export machine.
     */
    fun selfCheck(): List<String> {
        val name = manifest.android["test_vectors"] as? String
            ?: return listOf("the bundle has no test vectors; export it with --for android")
        val vectors = TestVectors.read(Bundles.safeJoin(dir, name))
        val failures = ArrayList(vectors.checkTokenizer(encoder))
        for ((i, case) in vectors.cases.withIndex()) {
            // as the exporter: pad to the case's width only for fixed-shape graphs (the words axis follows it)
            val fixedShapes = manifest.graphs.any { it.seqLen != null }
            val (inputs, graph) = inputs(listOf(case.text), if (fixedShapes) case.seqLen else null)
            val outputs = run(inputs, graph).mapValues { it.value.data }
            for (problem in TestVectors.checkOutputs(case, outputs)) failures.add("case $i: $problem")
        }
        return failures
    }

    companion object {
        val APP_RUNTIMES = AppRuntimes(
            BuildConfig.EXECUTORCH_VERSION, BuildConfig.ONNXRUNTIME_VERSION, BuildConfig.LITERT_VERSION,
            BuildConfig.LITERT_WHEEL_VERSION
        )
    }

    override fun close() {
        runners.values.forEach { it.close() }
        runners.clear()
    }
}
