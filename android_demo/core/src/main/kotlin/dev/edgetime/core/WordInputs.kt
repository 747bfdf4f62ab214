package dev.edgetime.core

/**
 * The word-level graph inputs of NER and UD bundles, mirrored from Python's
 * `edge_time.runtime.predict.word_inputs`: `word_pool` (batch, words, seq) float32 averages
 * (`mean`) or picks (`first`) the sub-tokens of each word, with `rootRow` row 0 is the first
 * ([CLS]/<s>) token (the parser's root) and word i sits in row i + 1; `word_mask` (batch, words)
 * marks real rows. [width] pads the words axis (fixed-shape buckets use width = seq).
 */
class WordInputs(val batch: Int, val width: Int, val seqLen: Int, val pool: FloatArray, val mask: LongArray) {
    companion object {
        fun build(wordIds: List<IntArray>, nWords: IntArray, pooling: String, rootRow: Boolean, width: Int? = null): WordInputs {
            if (pooling != "mean" && pooling != "first") throw IllegalArgumentException("pooling '$pooling' is not 'mean' or 'first'")
            val batch = wordIds.size
            val seq = if (batch > 0) wordIds[0].size else 0
            val offset = if (rootRow) 1 else 0
            val needed = maxOf(1, (nWords.map { it + offset }.max() ?: 1))
            val w = width ?: needed
            if (needed > w) throw IllegalArgumentException("${needed - offset} words do not fit a words axis of $w")
            val pool = FloatArray(batch * w * seq)
            val mask = LongArray(batch * w)
            for (b in 0 until batch) {
                if (rootRow) pool[(b * w) * seq] = 1f
                for (r in 0 until nWords[b] + offset) mask[b * w + r] = 1L
                for ((t, word) in wordIds[b].withIndex()) {
                    if (word < 0 || word >= nWords[b]) continue
                    val row = word + offset
                    val base = (b * w + row) * seq
                    if (pooling == "first" && (0 until seq).any { pool[base + it] != 0f }) continue
                    pool[base + t] = 1f
                }
                if (pooling == "mean") {
                    for (row in 0 until w) {
                        val base = (b * w + row) * seq
                        var count = 0f
                        for (t in 0 until seq) count += pool[base + t]
                        if (count > 0f) for (t in 0 until seq) pool[base + t] = pool[base + t] / count
                    }
                }
            }
            return WordInputs(batch, w, seq, pool, mask)
        }
    }
}
