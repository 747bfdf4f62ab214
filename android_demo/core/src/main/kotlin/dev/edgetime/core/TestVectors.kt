package dev.edgetime.core

import java.io.File

/**
 * The bundle's `test_vectors.json` (written by `edge-time export --for android`): texts with the ids,
 * mask and positions Python's TextEncoder produced, and what the exported graph returned for them.
 * The app checks itself against it on the phone; the JVM tests use the same checks.
 */
class VectorCase(
    val text: String,
    val seqLen: Int,
    val inputIds: IntArray,
    val attentionMask: IntArray,
    val positionIds: IntArray,
    val wordIds: IntArray,
    val tokens: List<String>,
    val outputs: Map<String, Map<String, Any?>>,
    /** Word tasks: the whitespace-split words fed as pre-tokenized input, and the word_mask row. */
    val words: List<String>? = null,
    val wordMask: IntArray? = null
)

class TestVectors(
    val maxLength: Int,
    val tokenizerFile: String,
    val info: TokenizerInfo?,
    val cases: List<VectorCase>,
    /** Word tasks: `pooling` ("mean" | "first") and `root_row` of the word inputs, else null. */
    val wordInputs: Map<String, Any?>? = null
) {

    /** Mismatches between [encoder] and the Python ids (empty when every case matches exactly). */
    fun checkTokenizer(encoder: TextEncoder): List<String> {
        val failures = ArrayList<String>()
        for ((i, case) in cases.withIndex()) {
            val batch = if (case.words != null) encoder.encodeWords(listOf(case.words), case.seqLen)
            else encoder.encode(listOf(case.text), case.seqLen)
            val enc = batch.encodings[0]
            val ids = batch.inputIds.map { it.toInt() }
            fun report(what: String, got: Any, want: Any) {
                failures.add("case $i ${Json.quote(case.text)}: $what\n  kotlin: $got\n  python: $want\n  kotlin tokens: ${enc.tokens}\n  python tokens: ${case.tokens}")
            }
            if (ids != case.inputIds.toList()) { report("input_ids differ", ids, case.inputIds.toList()); continue }
            val mask = batch.attentionMask.map { it.toInt() }
            if (mask != case.attentionMask.toList()) report("attention_mask differs", mask, case.attentionMask.toList())
            val positions = batch.positionIds.map { it.toInt() }
            if (positions != case.positionIds.toList()) report("position_ids differ", positions, case.positionIds.toList())
            val words = (enc.wordIds.toList() + List(case.seqLen - enc.wordIds.size) { -1 })
            if (words != case.wordIds.toList()) report("word_ids differ", words, case.wordIds.toList())
            if (enc.tokens != case.tokens) report("tokens differ", enc.tokens, case.tokens)
            if (case.words != null && Decoding.splitWords(case.text) != case.words) {
                report("words differ", Decoding.splitWords(case.text), case.words)
            }
            if (wordInputs != null && case.words != null && case.wordMask != null) {
                val built = WordInputs.build(
                    listOf(words.toIntArray()), intArrayOf(case.words.size), wordInputs["pooling"] as String,
                    wordInputs["root_row"] == true, case.wordMask.size
                )
                val wordMask = built.mask.map { it.toInt() }
                if (wordMask != case.wordMask.toList()) report("word_mask differs", wordMask, case.wordMask.toList())
            }
        }
        return failures
    }

    companion object {
        const val FORMAT = "edge-time/android-test-vectors"

        fun read(file: File): TestVectors = parse(file.readText(Charsets.UTF_8))

        fun parse(text: String): TestVectors {
            val data = Json.parseObject(text)
            if (data["format"] != FORMAT) throw JsonException("not an edge-time test vector file (format must be $FORMAT)")
            val t = data["tokenizer"]
            val info = if (t == null) null else J.obj(t, "tokenizer").let { m ->
                TokenizerInfo(
                    file = J.str(m["file"] ?: "tokenizer.json", "tokenizer.file"),
                    kind = J.str(m["kind"] ?: "wordpiece", "tokenizer.kind"),
                    lowercase = m["lowercase"] == true,
                    padId = J.int(m["pad_id"] ?: 0L, "tokenizer.pad_id"),
                    clsId = m["cls_id"]?.let { J.int(it, "cls_id") },
                    sepId = m["sep_id"]?.let { J.int(it, "sep_id") },
                    unkId = m["unk_id"]?.let { J.int(it, "unk_id") },
                    positionStyle = J.str(m["position_style"] ?: "bert", "tokenizer.position_style")
                )
            }
            val cases = J.list(data["cases"], "cases").mapIndexed { i, item ->
                val c = J.obj(item, "cases[$i]")
                val outputs = LinkedHashMap<String, Map<String, Any?>>()
                if (c["outputs"] != null) for ((k, v) in J.obj(c["outputs"], "outputs")) outputs[k] = J.obj(v, "outputs.$k")
                VectorCase(
                    text = J.str(c["text"], "cases[$i].text"),
                    seqLen = J.int(c["seq_len"], "cases[$i].seq_len"),
                    inputIds = J.intList(c["input_ids"], "input_ids"),
                    attentionMask = J.intList(c["attention_mask"], "attention_mask"),
                    positionIds = J.intList(c["position_ids"], "position_ids"),
                    wordIds = J.intList(c["word_ids"], "word_ids"),
                    tokens = J.list(c["tokens"], "tokens").map { J.str(it, "token") },
                    outputs = outputs,
                    words = c["words"]?.let { w -> J.list(w, "words").map { J.str(it, "word") } },
                    wordMask = c["word_mask"]?.let { J.intList(it, "word_mask") }
                )
            }
            return TestVectors(
                J.int(data["max_length"], "max_length"), J.str(data["tokenizer_file"] ?: "tokenizer.json", "tokenizer_file"),
                info, cases, data["word_inputs"]?.let { J.obj(it, "word_inputs") }
            )
        }

        /**
         * Compare one case's model outputs (row 0, flattened float32) with the recorded ones: label
         * outputs by argmax over the real tokens, others by the recorded leading values within `atol`.
         */
        fun checkOutputs(case: VectorCase, outputs: Map<String, FloatArray>): List<String> {
            val failures = ArrayList<String>()
            for ((name, expected) in case.outputs) {
                val got = outputs[name]
                if (got == null) { failures.add("output '$name' is missing"); continue }
                if (expected["argmax"] != null) {
                    val want = J.intList(expected["argmax"], "$name.argmax")
                    val width = J.int(expected["num_labels"], "$name.num_labels")
                    val have = IntArray(minOf(want.size, got.size / width)) { Decoding.argmax(got, it * width, width) }
                    // -1 marks a near tie in the recording: another CPU may legitimately flip it
                    val considered = want.indices.filter { want[it] >= 0 }
                    val agree = considered.count { it < have.size && have[it] == want[it] }
                    val needed = if (expected["min_agreement"] != null) J.double(expected["min_agreement"], "min_agreement") else 1.0
                    if (considered.isNotEmpty() && agree.toDouble() / considered.size < needed) {
                        failures.add("output '$name': argmax labels ${have.toList()} vs expected ${want.toList()}")
                    }
                }
                if (expected["values"] != null) {
                    val values = J.list(expected["values"], "$name.values").map { J.double(it, "$name.value") }
                    val atol = J.double(expected["atol"] ?: 1e-3, "$name.atol")
                    for ((k, v) in values.withIndex()) {
                        if (k >= got.size || Math.abs(got[k] - v) > atol) {
                            failures.add("output '$name'[$k] = ${if (k < got.size) got[k].toString() else "missing"}, expected $v +- $atol")
                            break
                        }
                    }
                }
            }
            return failures
        }
    }
}
