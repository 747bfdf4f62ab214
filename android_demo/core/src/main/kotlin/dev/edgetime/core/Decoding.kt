package dev.edgetime.core

/** An entity: its type and inclusive first/last word index, as Python's `bio_spans` returns. */
data class Span(val type: String, val first: Int, val last: Int)

/**
 * Decoding outside the graph, mirrored from `edge_time/runtime/decode.py`: BIO/IOBES spans with
 * seqeval's default (conlleval) chunking, and token -> word labels.
 */
object Decoding {
    fun bioSpans(tags: List<String>): List<Span> {
        val spans = ArrayList<Span>()
        var prevTag = "O"
        var prevType = ""
        var begin = 0
        for ((i, chunk) in (tags + "O").withIndex()) {
            val tag = if (chunk.length == 0) "O" else chunk.substring(0, 1)
            val rest = if (chunk.length == 0) "" else chunk.substring(1)
            val last = rest.split("-", limit = 2).last()
            val kind = if (last.length == 0) "_" else last
            if (chunkEnds(prevTag, tag, prevType, kind)) spans.add(Span(prevType, begin, i - 1))
            if (chunkStarts(prevTag, tag, prevType, kind)) begin = i
            prevTag = tag
            prevType = kind
        }
        return spans
    }

    private fun chunkEnds(prevTag: String, tag: String, prevType: String, kind: String): Boolean {
        if (prevTag == "E" || prevTag == "S") return true
        if ((prevTag == "B" || prevTag == "I") && (tag == "B" || tag == "S" || tag == "O")) return true
        return prevTag != "O" && prevTag != "." && prevType != kind
    }

    private fun chunkStarts(prevTag: String, tag: String, prevType: String, kind: String): Boolean {
        if (tag == "B" || tag == "S") return true
        if ((prevTag == "E" || prevTag == "S" || prevTag == "O") && (tag == "E" || tag == "I")) return true
        return tag != "O" && tag != "." && prevType != kind
    }

    /**
     * Words of a text for word tasks, as Python's `text.split() or ["."]`: split on Unicode whitespace
     * (Python's str.isspace set: White_Space plus the separators U+001C..U+001F).
     */
    fun splitWords(text: String): List<String> {
        val words = ArrayList<String>()
        val current = StringBuilder()
        Chars.forEachCodePoint(text) { cp ->
            if (Chars.isWhitespace(cp) || cp in 0x1C..0x1F) {
                if (current.length > 0) { words.add(current.toString()); current.setLength(0) }
            } else current.appendCodePoint(cp)
        }
        if (current.length > 0) words.add(current.toString())
        return if (words.isEmpty()) listOf(".") else words
    }

    /** Index of the largest score in `scores[offset until offset + width]` (first one on ties, like numpy). */
    fun argmax(scores: FloatArray, offset: Int, width: Int): Int {
        var best = 0
        for (k in 1 until width) if (scores[offset + k] > scores[offset + best]) best = k
        return best
    }

    /**
     * Word-level labels from token-level ones: each word takes the label of its first sub-token
     * (the usual convention for token classification). [wordIds] holds -1 for specials and padding.
     */
    fun wordLabels(tokenLabels: List<String>, wordIds: IntArray): List<String> {
        val out = ArrayList<String>()
        var lastWord = -1
        for (t in wordIds.indices) {
            val w = wordIds[t]
            if (w < 0 || w == lastWord || t >= tokenLabels.size) continue
            while (out.size < w) out.add("O")
            out.add(tokenLabels[t])
            lastWord = w
        }
        return out
    }
}
