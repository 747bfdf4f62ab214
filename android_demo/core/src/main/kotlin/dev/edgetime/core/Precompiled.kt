package dev.edgetime.core

/**
 * SentencePiece's `precompiled_charsmap` normalizer (nmt_nfkc and friends), as Hugging Face
 * `tokenizers` applies it to XLM-R style Unigram tokenizers.
 *
 * The charsmap is `[u32 trie size][darts-clone double-array trie][NUL-separated replacements]`. HF walks
 * the text grapheme by grapheme: a grapheme shorter than 6 UTF-8 bytes is replaced whole by the rule of
 * its SHORTEST matching prefix; otherwise (or with no match) each code point is looked up alone.
 * Graphemes come from [Graphemes], an approximation of Unicode extended grapheme clusters (see there).
 */
class PrecompiledNormalizer(charsmap: ByteArray) : Normalizer {
    private val units: IntArray
    private val replacements: ByteArray

    init {
        if (charsmap.size < 4) throw TokenizerException("precompiled_charsmap is too short")
        val trieBytes = le32(charsmap, 0)
        if (trieBytes < 0 || 4 + trieBytes > charsmap.size || trieBytes % 4 != 0) {
            throw TokenizerException("precompiled_charsmap has a bad trie size $trieBytes")
        }
        units = IntArray(trieBytes / 4) { le32(charsmap, 4 + it * 4) }
        replacements = charsmap.copyOfRange(4 + trieBytes, charsmap.size)
    }

    private fun le32(b: ByteArray, at: Int): Int =
        (b[at].toInt() and 0xff) or ((b[at + 1].toInt() and 0xff) shl 8) or
            ((b[at + 2].toInt() and 0xff) shl 16) or ((b[at + 3].toInt() and 0xff) shl 24)

    private fun offset(unit: Int): Int = (unit ushr 10) shl ((unit and (1 shl 9)) ushr 6)
    private fun hasLeaf(unit: Int): Boolean = ((unit ushr 8) and 1) == 1
    private fun value(unit: Int): Int = unit and 0x7fffffff
    private fun label(unit: Int): Int = unit and (0x80000000.toInt() or 0xff)

    /** Replacement of the shortest rule matching a prefix of [chunk], or null (darts common-prefix search). */
    fun transform(chunk: String): String? {
        val key = chunk.toByteArray(Charsets.UTF_8)
        var node = 0
        if (units.isEmpty()) return null
        node = node xor offset(units[0])
        for (b in key) {
            val c = b.toInt() and 0xff
            if (c == 0) return null
            node = node xor c
            if (node < 0 || node >= units.size) return null
            val unit = units[node]
            if (label(unit) != c) return null
            node = node xor offset(unit)
            if (node < 0 || node >= units.size) return null
            if (hasLeaf(unit)) return replacementAt(value(units[node]))
        }
        return null
    }

    private fun replacementAt(index: Int): String {
        var end = index
        while (end < replacements.size && replacements[end].toInt() != 0) end++
        return String(replacements, index, end - index, Charsets.UTF_8)
    }

    override fun normalize(text: String): String {
        val out = StringBuilder(text.length)
        for (grapheme in Graphemes.split(text)) {
            if (utf8Length(grapheme) < 6) {
                val whole = transform(grapheme)
                if (whole != null) { out.append(whole); continue }
            }
            var i = 0
            while (i < grapheme.length) {
                val cp = grapheme.codePointAt(i)
                val part = String(Character.toChars(cp))
                out.append(transform(part) ?: part)
                i += Character.charCount(cp)
            }
        }
        return out.toString()
    }

    companion object {
        fun utf8Length(text: String): Int {
            var n = 0
            var i = 0
            while (i < text.length) {
                val cp = text.codePointAt(i)
                n += when {
                    cp < 0x80 -> 1
                    cp < 0x800 -> 2
                    cp < 0x10000 -> 3
                    else -> 4
                }
                i += Character.charCount(cp)
            }
            return n
        }
    }
}

/**
 * Approximate Unicode extended grapheme clusters without ICU (the JVM's BreakIterator differs between
 * JDK versions and Android): CR LF, Hangul syllable sequences, a base followed by marks (Mn/Mc/Me),
 * ZWJ, variation selectors and emoji modifiers, ZWJ emoji sequences and regional-indicator pairs.
 * Not covered: Prepend characters and the Indic conjunct rule; both only matter for the precompiled
 * normalizer's whole-grapheme rule, and only when such a cluster is shorter than 6 UTF-8 bytes.
 */
object Graphemes {
    private fun isControl(cp: Int): Boolean {
        if (cp == 0x200C || cp == 0x200D) return false
        val t = Character.getType(cp)
        return t == Character.CONTROL.toInt() || t == Character.LINE_SEPARATOR.toInt() ||
            t == Character.PARAGRAPH_SEPARATOR.toInt() || (t == Character.FORMAT.toInt() && cp != 0x200D)
    }

    private fun isExtend(cp: Int): Boolean {
        if (cp == 0x200D || cp == 0x200C) return true
        if (cp in 0xFE00..0xFE0F || cp in 0xE0100..0xE01EF || cp in 0x1F3FB..0x1F3FF || cp in 0xE0020..0xE007F) return true
        val t = Character.getType(cp)
        return t == Character.NON_SPACING_MARK.toInt() || t == Character.ENCLOSING_MARK.toInt() ||
            t == Character.COMBINING_SPACING_MARK.toInt()
    }

    private fun hangul(cp: Int): Char = when {
        cp in 0x1100..0x115F || cp in 0xA960..0xA97C -> 'L'
        cp in 0x1160..0x11A7 || cp in 0xD7B0..0xD7C6 -> 'V'
        cp in 0x11A8..0x11FF || cp in 0xD7CB..0xD7FB -> 'T'
        cp in 0xAC00..0xD7A3 -> if ((cp - 0xAC00) % 28 == 0) 'P' else 'Q' // LV, LVT
        else -> ' '
    }

    private fun isPictographic(cp: Int): Boolean =
        cp in 0x1F000..0x1FAFF || cp in 0x2600..0x27BF || cp in 0x1F900..0x1F9FF || cp == 0x00A9 || cp == 0x00AE

    private fun isRegional(cp: Int): Boolean = cp in 0x1F1E6..0x1F1FF

    private fun joins(prev: Int, cp: Int, prevPrev: Int, riCount: Int): Boolean {
        if (prev == 0x0D && cp == 0x0A) return true
        if (isControl(prev) || isControl(cp)) return false
        val hp = hangul(prev)
        val hc = hangul(cp)
        if (hp == 'L' && (hc == 'L' || hc == 'V' || hc == 'P' || hc == 'Q')) return true
        if ((hp == 'P' || hp == 'V') && (hc == 'V' || hc == 'T')) return true
        if ((hp == 'Q' || hp == 'T') && hc == 'T') return true
        if (isExtend(cp)) return true
        if (prev == 0x200D && isPictographic(cp) && prevPrev >= 0) return true
        if (isRegional(prev) && isRegional(cp) && riCount % 2 == 1) return true
        return false
    }

    fun split(text: String): List<String> {
        val result = ArrayList<String>()
        var start = 0
        var i = 0
        var prev = -1
        var prevPrev = -1
        var riCount = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            if (prev >= 0 && !joins(prev, cp, prevPrev, riCount)) {
                result.add(text.substring(start, i))
                start = i
                riCount = 0
            }
            riCount = if (isRegional(cp)) riCount + 1 else 0
            prevPrev = prev
            prev = cp
            i += Character.charCount(cp)
        }
        if (start < text.length) result.add(text.substring(start))
        return result
    }
}
