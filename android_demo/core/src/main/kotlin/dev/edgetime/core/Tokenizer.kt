package dev.edgetime.core

import java.text.Normalizer as JavaNormalizer
import java.util.Locale
import java.util.regex.Pattern

/**
 * A re-implementation of the Hugging Face `tokenizers` pipeline for the parts edge-time bundles use,
 * read from the bundle's own `tokenizer.json`:
 *
 *   added (special) tokens -> normalizer -> pre-tokenizer -> WordPiece | Unigram -> post-processor
 *
 * Supported components (anything else raises [TokenizerException] naming it):
 *  - normalizers: Sequence, BertNormalizer, Precompiled, NFC/NFD/NFKC/NFKD, Lowercase, StripAccents,
 *    Strip, Replace, Prepend
 *  - pre-tokenizers: Sequence, BertPreTokenizer, Metaspace, WhitespaceSplit, Whitespace
 *  - models: WordPiece, Unigram (without byte fallback)
 *  - post-processors: TemplateProcessing, BertProcessing, RobertaProcessing
 * Truncation keeps `maxLength - specials` content tokens, then adds the specials, like `TextEncoder`.
 */
class TokenizerException(message: String) : RuntimeException(message)

interface Normalizer {
    fun normalize(text: String): String
}

interface PreTokenizer {
    /** Split [words] further; [firstSegment] is true for the text before any added token. */
    fun split(words: List<String>, firstSegment: Boolean): List<String>
}

interface TokenModel {
    fun tokenize(word: String): List<String>
    fun tokenToId(token: String): Int?
}

/** Character classes with Rust's definitions (HF `tokenizers` is written in Rust). */
object Chars {
    /** Rust `char::is_whitespace`: the Unicode White_Space property. */
    fun isWhitespace(cp: Int): Boolean = cp in 0x09..0x0D || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
        cp == 0x1680 || cp in 0x2000..0x200A || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000

    /** Unicode general category P* (Pc Pd Ps Pe Pi Pf Po). */
    fun isPunctuation(cp: Int): Boolean = when (Character.getType(cp).toByte()) {
        Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
        Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
        Character.OTHER_PUNCTUATION -> true
        else -> false
    }

    /** BERT's punctuation: ASCII punctuation or Unicode P*. */
    fun isBertPunctuation(cp: Int): Boolean =
        (cp in 33..47) || (cp in 58..64) || (cp in 91..96) || (cp in 123..126) || isPunctuation(cp)

    /** Unicode "Other" (Cc Cf Cn Co Cs), as BertNormalizer's is_control (minus \t \n \r). */
    fun isOther(cp: Int): Boolean = when (Character.getType(cp).toByte()) {
        Character.CONTROL, Character.FORMAT, Character.UNASSIGNED, Character.PRIVATE_USE, Character.SURROGATE -> true
        else -> false
    }

    fun isChinese(cp: Int): Boolean = cp in 0x4E00..0x9FFF || cp in 0x3400..0x4DBF || cp in 0x20000..0x2A6DF ||
        cp in 0x2A700..0x2B73F || cp in 0x2B740..0x2B81F || cp in 0x2B920..0x2CEAF || cp in 0xF900..0xFAFF ||
        cp in 0x2F800..0x2FA1F

    fun isMark(cp: Int): Boolean = when (Character.getType(cp).toByte()) {
        Character.NON_SPACING_MARK, Character.COMBINING_SPACING_MARK, Character.ENCLOSING_MARK -> true
        else -> false
    }

    fun isNonSpacingMark(cp: Int): Boolean = Character.getType(cp).toByte() == Character.NON_SPACING_MARK

    /** Code-point-wise lowercase (Rust `char::to_lowercase`: full mappings, no final-sigma context). */
    fun lowercase(text: String): String {
        val out = StringBuilder(text.length)
        forEachCodePoint(text) { cp ->
            if (cp < 0x80) out.append(Character.toLowerCase(cp.toChar()))
            else out.append(String(Character.toChars(cp)).toLowerCase(Locale.ROOT))
        }
        return out.toString()
    }

    inline fun forEachCodePoint(text: String, action: (Int) -> Unit) {
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            action(cp)
            i += Character.charCount(cp)
        }
    }

    fun codePoints(text: String): IntArray {
        val out = IntArray(text.codePointCount(0, text.length))
        var k = 0
        forEachCodePoint(text) { out[k++] = it }
        return out
    }
}

// ------------------------------------------------------------------------------------------------
// Normalizers
// ------------------------------------------------------------------------------------------------

class SequenceNormalizer(private val parts: List<Normalizer>) : Normalizer {
    override fun normalize(text: String): String = parts.fold(text) { acc, n -> n.normalize(acc) }
}

class UnicodeNormalizer(private val form: JavaNormalizer.Form) : Normalizer {
    override fun normalize(text: String): String = JavaNormalizer.normalize(text, form)
}

class LowercaseNormalizer : Normalizer {
    override fun normalize(text: String): String = Chars.lowercase(text)
}

/** HF StripAccents removes every combining mark (Mn, Mc, Me); it does not decompose first. */
class StripAccentsNormalizer : Normalizer {
    override fun normalize(text: String): String {
        val out = StringBuilder(text.length)
        Chars.forEachCodePoint(text) { if (!Chars.isMark(it)) out.appendCodePoint(it) }
        return out.toString()
    }
}

class StripNormalizer(private val left: Boolean, private val right: Boolean) : Normalizer {
    override fun normalize(text: String): String {
        val cps = Chars.codePoints(text)
        var start = 0
        var end = cps.size
        if (left) while (start < end && Chars.isWhitespace(cps[start])) start++
        if (right) while (end > start && Chars.isWhitespace(cps[end - 1])) end--
        return String(cps, start, end - start)
    }
}

class ReplaceNormalizer(private val pattern: Pattern, private val content: String) : Normalizer {
    override fun normalize(text: String): String =
        pattern.matcher(text).replaceAll(java.util.regex.Matcher.quoteReplacement(content))
}

class PrependNormalizer(private val prefix: String) : Normalizer {
    override fun normalize(text: String): String = if (text.length == 0) text else prefix + text
}

/** BERT's normalizer: clean text, pad CJK, strip accents (NFD + drop Mn), lowercase - in that order. */
class BertNormalizer(
    private val cleanText: Boolean,
    private val handleChineseChars: Boolean,
    private val stripAccents: Boolean,
    private val lowercase: Boolean
) : Normalizer {
    override fun normalize(text: String): String {
        var s = text
        if (cleanText) {
            val out = StringBuilder(s.length)
            Chars.forEachCodePoint(s) { cp ->
                val control = cp != 0x09 && cp != 0x0A && cp != 0x0D && Chars.isOther(cp)
                if (!(cp == 0 || cp == 0xFFFD || control)) {
                    if (Chars.isWhitespace(cp)) out.append(' ') else out.appendCodePoint(cp)
                }
            }
            s = out.toString()
        }
        if (handleChineseChars) {
            val out = StringBuilder(s.length)
            Chars.forEachCodePoint(s) { cp ->
                if (Chars.isChinese(cp)) out.append(' ').appendCodePoint(cp).append(' ') else out.appendCodePoint(cp)
            }
            s = out.toString()
        }
        if (stripAccents) {
            val out = StringBuilder(s.length)
            Chars.forEachCodePoint(JavaNormalizer.normalize(s, JavaNormalizer.Form.NFD)) {
                if (!Chars.isNonSpacingMark(it)) out.appendCodePoint(it)
            }
            s = out.toString()
        }
        if (lowercase) s = Chars.lowercase(s)
        return s
    }
}

// ------------------------------------------------------------------------------------------------
// Pre-tokenizers
// ------------------------------------------------------------------------------------------------

class SequencePreTokenizer(private val parts: List<PreTokenizer>) : PreTokenizer {
    override fun split(words: List<String>, firstSegment: Boolean): List<String> =
        parts.fold(words) { acc, p -> p.split(acc, firstSegment) }
}

/** Split on whitespace (dropped) and, for BERT, isolate each punctuation character. */
class WhitespacePunctuationSplit(private val punctuation: Boolean) : PreTokenizer {
    override fun split(words: List<String>, firstSegment: Boolean): List<String> {
        val out = ArrayList<String>()
        for (word in words) {
            val current = StringBuilder()
            Chars.forEachCodePoint(word) { cp ->
                when {
                    Chars.isWhitespace(cp) -> {
                        if (current.isNotEmpty()) { out.add(current.toString()); current.setLength(0) }
                    }
                    punctuation && Chars.isBertPunctuation(cp) -> {
                        if (current.isNotEmpty()) { out.add(current.toString()); current.setLength(0) }
                        out.add(String(Character.toChars(cp)))
                    }
                    else -> current.appendCodePoint(cp)
                }
            }
            if (current.isNotEmpty()) out.add(current.toString())
        }
        return out
    }
}

/** HF `Whitespace`: the regex `\w+|[^\w\s]+` with Unicode classes. */
class WhitespaceRegexPreTokenizer : PreTokenizer {
    private val pattern = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS)
    override fun split(words: List<String>, firstSegment: Boolean): List<String> {
        val out = ArrayList<String>()
        for (word in words) {
            val m = pattern.matcher(word)
            while (m.find()) out.add(m.group())
        }
        return out
    }
}

/**
 * SentencePiece-style Metaspace: spaces become [replacement], a leading one is prepended ("always", or
 * "first" for the text before any added token), and with [splitWords] the text is cut before each
 * replacement char (HF's MergedWithNext).
 */
class MetaspacePreTokenizer(
    private val replacement: String,
    private val prependScheme: String,
    private val splitWords: Boolean
) : PreTokenizer {
    override fun split(words: List<String>, firstSegment: Boolean): List<String> {
        val out = ArrayList<String>()
        for ((index, word) in words.withIndex()) {
            var s = word.replace(" ", replacement)
            val prepend = prependScheme == "always" || (prependScheme == "first" && firstSegment && index == 0)
            if (prepend && !s.startsWith(replacement)) s = replacement + s
            if (!splitWords) { if (s.isNotEmpty()) out.add(s); continue }
            var start = 0
            var at = s.indexOf(replacement, 1)
            while (at >= 0) {
                if (at > start) out.add(s.substring(start, at))
                start = at
                at = s.indexOf(replacement, at + replacement.length)
            }
            if (start < s.length) out.add(s.substring(start))
        }
        return out
    }
}

// ------------------------------------------------------------------------------------------------
// Models
// ------------------------------------------------------------------------------------------------

/** Greedy longest-match-first WordPiece; a word with any unmatched rest becomes one [unk]. */
class WordPieceModel(
    private val vocab: Map<String, Int>,
    private val unkToken: String,
    private val prefix: String,
    private val maxInputChars: Int
) : TokenModel {
    override fun tokenToId(token: String): Int? = vocab[token]

    override fun tokenize(word: String): List<String> {
        val cps = Chars.codePoints(word)
        if (cps.size > maxInputChars) return listOf(unkToken)
        val pieces = ArrayList<String>()
        var start = 0
        while (start < cps.size) {
            var end = cps.size
            var found: String? = null
            while (start < end) {
                var piece = String(cps, start, end - start)
                if (start > 0) piece = prefix + piece
                if (vocab.containsKey(piece)) { found = piece; break }
                end--
            }
            if (found == null) return listOf(unkToken)
            pieces.add(found)
            start = end
        }
        return pieces
    }
}

/**
 * SentencePiece Unigram: Viterbi over piece log-probabilities, exactly as HF's `encode_optimized`
 * (candidates in increasing length, strict improvement, unknown single characters scored
 * `min_score - 10`, consecutive unknowns fused into one token).
 */
class UnigramModel(pieces: List<Pair<String, Double>>, private val unkId: Int?) : TokenModel {
    private val ids = HashMap<String, Int>(pieces.size * 2)
    private val scores = DoubleArray(pieces.size)
    private val maxPieceChars: Int
    private val unkScore: Double

    init {
        var longest = 1
        var minScore = Double.POSITIVE_INFINITY
        for ((i, p) in pieces.withIndex()) {
            ids[p.first] = i
            scores[i] = p.second
            if (p.second < minScore) minScore = p.second
            longest = maxOf(longest, p.first.codePointCount(0, p.first.length))
        }
        maxPieceChars = longest
        unkScore = (if (pieces.isEmpty()) 0.0 else minScore) - 10.0
        if (unkId != null && (unkId < 0 || unkId >= pieces.size)) throw TokenizerException("Unigram unk_id $unkId is outside the vocabulary")
    }

    override fun tokenToId(token: String): Int? = ids[token]

    override fun tokenize(word: String): List<String> {
        if (word.length == 0) return emptyList()
        val n = word.length // lattice over UTF-16 indices; only code point boundaries are used
        val bestScore = DoubleArray(n + 1)
        val startsAt = IntArray(n + 1) { -1 }
        val nodeId = IntArray(n + 1)
        var start = 0
        while (start < n) {
            val here = bestScore[start]
            val firstLen = Character.charCount(word.codePointAt(start))
            var hasSingle = false
            var end = start
            var chars = 0
            while (end < n && chars < maxPieceChars) {
                end += Character.charCount(word.codePointAt(end))
                chars++
                val id = ids[word.substring(start, end)] ?: continue
                val candidate = scores[id] + here
                if (startsAt[end] < 0 || candidate > bestScore[end]) {
                    bestScore[end] = candidate
                    startsAt[end] = start
                    nodeId[end] = id
                }
                if (end - start == firstLen) hasSingle = true
            }
            if (!hasSingle) {
                val target = start + firstLen
                val candidate = unkScore + here
                if (startsAt[target] < 0 || candidate > bestScore[target]) {
                    bestScore[target] = candidate
                    startsAt[target] = start
                    nodeId[target] = unkId ?: 0
                }
            }
            start += firstLen
        }
        val reversed = ArrayList<String>()
        val unkRun = ArrayList<String>()
        var end = n
        while (end > 0) {
            val begin = startsAt[end]
            val piece = word.substring(begin, end)
            if (unkId != null && nodeId[end] == unkId) {
                unkRun.add(piece)
            } else {
                if (unkRun.isNotEmpty()) { reversed.add(unkRun.reversed().joinToString("")); unkRun.clear() }
                reversed.add(piece)
            }
            end = begin
        }
        if (unkRun.isNotEmpty()) reversed.add(unkRun.reversed().joinToString(""))
        return reversed.reversed()
    }
}

// ------------------------------------------------------------------------------------------------
// The pipeline
// ------------------------------------------------------------------------------------------------

class AddedToken(val content: String, val id: Int, val singleWord: Boolean, val lstrip: Boolean, val rstrip: Boolean, val normalized: Boolean)

/** One encoded text: ids with the specials, their token strings and word indices (-1 for specials). */
class Encoding(val ids: IntArray, val tokens: List<String>, val wordIds: IntArray)

class HfTokenizer(
    private val normalizer: Normalizer?,
    private val preTokenizer: PreTokenizer?,
    private val model: TokenModel,
    private val unkId: Int?,
    private val added: List<AddedToken>,
    private val prefix: List<Pair<String, Int>>,
    private val suffix: List<Pair<String, Int>>
) {
    val specialsCount: Int get() = prefix.size + suffix.size

    /** Encode [text] to at most [maxLength] ids including the specials (content is truncated first). */
    fun encode(text: String, maxLength: Int): Encoding {
        val content = Content()
        encodeContent(text, content, null)
        return finish(content, maxLength)
    }

    /**
     * Encode pre-split words (HF `is_pretokenized=True`): each word runs through the whole pipeline on
     * its own, and every token of word i gets word id i.
     */
    fun encodeWords(words: List<String>, maxLength: Int): Encoding {
        val content = Content()
        for ((i, word) in words.withIndex()) encodeContent(word, content, i)
        return finish(content, maxLength)
    }

    private class Content {
        val tokens = ArrayList<String>()
        val ids = ArrayList<Int>()
        val words = ArrayList<Int>()
        var nextWord = 0
    }

    private fun encodeContent(text: String, content: Content, fixedWord: Int?) {
        for ((segIndex, segment) in splitAdded(text).withIndex()) {
            if (segment.second != null) {
                content.tokens.add(segment.first); content.ids.add(segment.second!!)
                content.words.add(fixedWord ?: content.nextWord++)
                continue
            }
            val normalized = normalizer?.normalize(segment.first) ?: segment.first
            if (normalized.length == 0) continue
            val pieces = preTokenizer?.split(listOf(normalized), segIndex == 0) ?: listOf(normalized)
            for (word in pieces) {
                if (word.length == 0) continue
                val wordId = fixedWord ?: content.nextWord++
                for (token in model.tokenize(word)) {
                    val id = model.tokenToId(token) ?: unkId ?: throw TokenizerException("token '$token' is unknown and the model has no unk id")
                    content.tokens.add(token); content.ids.add(id); content.words.add(wordId)
                }
            }
        }
    }

    private fun finish(content: Content, maxLength: Int): Encoding {
        val keep = maxOf(0, minOf(content.ids.size, maxLength - specialsCount))
        val outIds = ArrayList<Int>()
        val outTokens = ArrayList<String>()
        val outWords = ArrayList<Int>()
        for ((t, id) in prefix) { outTokens.add(t); outIds.add(id); outWords.add(-1) }
        for (i in 0 until keep) { outTokens.add(content.tokens[i]); outIds.add(content.ids[i]); outWords.add(content.words[i]) }
        for ((t, id) in suffix) { outTokens.add(t); outIds.add(id); outWords.add(-1) }
        return Encoding(outIds.toIntArray(), outTokens, outWords.toIntArray())
    }

    /** Cut raw text at added tokens (leftmost, longest first): (text, null) segments and (token, id) hits. */
    private fun splitAdded(text: String): List<Pair<String, Int?>> {
        if (added.isEmpty()) return listOf(Pair(text, null))
        val out = ArrayList<Pair<String, Int?>>()
        var pos = 0
        var segStart = 0
        while (pos < text.length) {
            var best: AddedToken? = null
            for (token in added) {
                if (token.content.length == 0 || !text.startsWith(token.content, pos)) continue
                if (token.singleWord && !isWordBoundary(text, pos, pos + token.content.length)) continue
                if (best == null || token.content.length > best.content.length) best = token
            }
            if (best == null) { pos++; continue }
            var from = pos
            var to = pos + best.content.length
            if (best.lstrip) while (from > segStart && Chars.isWhitespace(text[from - 1].toInt())) from--
            if (best.rstrip) while (to < text.length && Chars.isWhitespace(text[to].toInt())) to++
            if (from > segStart) out.add(Pair(text.substring(segStart, from), null))
            out.add(Pair(best.content, best.id))
            pos = to
            segStart = to
        }
        if (segStart < text.length) out.add(Pair(text.substring(segStart), null))
        return out
    }

    private fun isWordBoundary(text: String, from: Int, to: Int): Boolean {
        val before = from == 0 || !Character.isLetterOrDigit(text.codePointBefore(from))
        val after = to >= text.length || !Character.isLetterOrDigit(text.codePointAt(to))
        return before && after
    }

    companion object {
        fun fromJson(text: String): HfTokenizer = fromMap(Json.parseObject(text))

        fun fromMap(data: Map<String, Any?>): HfTokenizer {
            val modelMap = J.obj(data["model"], "tokenizer.json model")
            val modelType = modelMap["type"] as? String ?: guessModelType(modelMap)
            var unkId: Int?
            val model: TokenModel = when (modelType) {
                "WordPiece" -> {
                    val vocab = HashMap<String, Int>()
                    for ((k, v) in J.obj(modelMap["vocab"], "model.vocab")) vocab[k] = J.int(v, "model.vocab.$k")
                    val unk = J.str(modelMap["unk_token"] ?: "[UNK]", "model.unk_token")
                    unkId = vocab[unk]
                    WordPieceModel(
                        vocab, unk, (modelMap["continuing_subword_prefix"] as? String) ?: "##",
                        if (modelMap["max_input_chars_per_word"] != null) J.int(modelMap["max_input_chars_per_word"], "max_input_chars_per_word") else 100
                    )
                }
                "Unigram" -> {
                    if (modelMap["byte_fallback"] == true) throw TokenizerException("Unigram byte_fallback is not supported by the Android core")
                    val pieces = J.list(modelMap["vocab"], "model.vocab").mapIndexed { i, item ->
                        val pair = J.list(item, "model.vocab[$i]")
                        Pair(J.str(pair[0], "model.vocab[$i][0]"), J.double(pair[1], "model.vocab[$i][1]"))
                    }
                    unkId = if (modelMap["unk_id"] != null) J.int(modelMap["unk_id"], "model.unk_id") else null
                    UnigramModel(pieces, unkId)
                }
                else -> throw TokenizerException("tokenizer model '$modelType' is not supported on Android (WordPiece, Unigram)")
            }
            val added = if (data["added_tokens"] == null) emptyList() else J.list(data["added_tokens"], "added_tokens").map {
                val m = J.obj(it, "added token")
                AddedToken(
                    J.str(m["content"], "added_tokens.content"), J.int(m["id"], "added_tokens.id"),
                    m["single_word"] == true, m["lstrip"] == true, m["rstrip"] == true, m["normalized"] == true
                )
            }
            // Added tokens marked `normalized` are matched on normalized text by HF; edge-time bundles only
            // carry special tokens (normalized=false). Matching them on raw text is exact for those.
            val (prefix, suffix) = postProcessor(data["post_processor"])
            return HfTokenizer(
                normalizer(data["normalizer"]), preTokenizer(data["pre_tokenizer"]), model, unkId, added, prefix, suffix
            )
        }

        private fun guessModelType(model: Map<String, Any?>): String = when {
            model["continuing_subword_prefix"] != null -> "WordPiece"
            model["vocab"] is List<*> -> "Unigram"
            else -> "unknown"
        }

        private fun normalizer(value: Any?): Normalizer? {
            if (value == null) return null
            val m = J.obj(value, "normalizer")
            return when (val type = m["type"]) {
                "Sequence" -> SequenceNormalizer(J.list(m["normalizers"], "normalizers").mapNotNull { normalizer(it) })
                "BertNormalizer" -> {
                    val lower = m["lowercase"] != false
                    BertNormalizer(
                        m["clean_text"] != false, m["handle_chinese_chars"] != false,
                        (m["strip_accents"] as? Boolean) ?: lower, lower
                    )
                }
                "Precompiled" -> {
                    val encoded = m["precompiled_charsmap"]
                    if (encoded == null) null else PrecompiledNormalizer(Base64.decode(J.str(encoded, "precompiled_charsmap")))
                }
                "NFC" -> UnicodeNormalizer(JavaNormalizer.Form.NFC)
                "NFD" -> UnicodeNormalizer(JavaNormalizer.Form.NFD)
                "NFKC" -> UnicodeNormalizer(JavaNormalizer.Form.NFKC)
                "NFKD" -> UnicodeNormalizer(JavaNormalizer.Form.NFKD)
                "Lowercase" -> LowercaseNormalizer()
                "StripAccents" -> StripAccentsNormalizer()
                "Strip" -> StripNormalizer(m["strip_left"] != false, m["strip_right"] != false)
                "Replace" -> ReplaceNormalizer(pattern(m["pattern"]), J.str(m["content"], "Replace.content"))
                "Prepend" -> PrependNormalizer(J.str(m["prepend"], "Prepend.prepend"))
                else -> throw TokenizerException("normalizer '$type' is not supported on Android")
            }
        }

        private fun pattern(value: Any?): Pattern {
            val m = J.obj(value, "Replace.pattern")
            m["String"]?.let { return Pattern.compile(Pattern.quote(J.str(it, "pattern.String"))) }
            m["Regex"]?.let { return Pattern.compile(J.str(it, "pattern.Regex")) }
            throw TokenizerException("Replace pattern must be {\"String\": ...} or {\"Regex\": ...}")
        }

        private fun preTokenizer(value: Any?): PreTokenizer? {
            if (value == null) return null
            val m = J.obj(value, "pre_tokenizer")
            return when (val type = m["type"]) {
                "Sequence" -> SequencePreTokenizer(J.list(m["pretokenizers"], "pretokenizers").mapNotNull { preTokenizer(it) })
                "BertPreTokenizer" -> WhitespacePunctuationSplit(true)
                "WhitespaceSplit" -> WhitespacePunctuationSplit(false)
                "Whitespace" -> WhitespaceRegexPreTokenizer()
                "Metaspace" -> {
                    val scheme = (m["prepend_scheme"] as? String)
                        ?: if (m["add_prefix_space"] == false) "never" else "always"
                    MetaspacePreTokenizer((m["replacement"] as? String) ?: "\u2581", scheme, m["split"] != false)
                }
                else -> throw TokenizerException("pre-tokenizer '$type' is not supported on Android")
            }
        }

        /** Special tokens before and after the content for a single sequence. */
        private fun postProcessor(value: Any?): Pair<List<Pair<String, Int>>, List<Pair<String, Int>>> {
            if (value == null) return Pair(emptyList(), emptyList())
            val m = J.obj(value, "post_processor")
            return when (val type = m["type"]) {
                "TemplateProcessing" -> {
                    val specials = J.obj(m["special_tokens"] ?: emptyMap<String, Any?>(), "special_tokens")
                    val before = ArrayList<Pair<String, Int>>()
                    val after = ArrayList<Pair<String, Int>>()
                    var seenSequence = false
                    for (piece in J.list(m["single"], "single")) {
                        val p = J.obj(piece, "template piece")
                        if (p["Sequence"] != null) { seenSequence = true; continue }
                        val name = J.str(J.obj(p["SpecialToken"], "SpecialToken")["id"], "SpecialToken.id")
                        val special = J.obj(specials[name], "special_tokens.$name")
                        val ids = J.intList(special["ids"], "special_tokens.$name.ids")
                        val tokens = J.list(special["tokens"], "special_tokens.$name.tokens")
                        for ((i, id) in ids.withIndex()) (if (seenSequence) after else before).add(Pair(tokens[i] as String, id))
                    }
                    Pair(before, after)
                }
                "BertProcessing", "RobertaProcessing" -> {
                    val cls = J.list(m["cls"], "cls")
                    val sep = J.list(m["sep"], "sep")
                    Pair(listOf(Pair(cls[0] as String, J.int(cls[1], "cls id"))), listOf(Pair(sep[0] as String, J.int(sep[1], "sep id"))))
                }
                else -> throw TokenizerException("post-processor '$type' is not supported on Android")
            }
        }
    }
}

/** RFC 4648 base64 decoding (java.util.Base64 needs Android API 26; this works everywhere). */
object Base64 {
    fun decode(text: String): ByteArray {
        val clean = text.filter { !it.isWhitespace() }.trimEnd('=')
        val out = java.io.ByteArrayOutputStream(clean.length * 3 / 4)
        var buffer = 0
        var bits = 0
        for (c in clean) {
            val v = when (c) {
                in 'A'..'Z' -> c - 'A'
                in 'a'..'z' -> c - 'a' + 26
                in '0'..'9' -> c - '0' + 52
                '+', '-' -> 62
                '/', '_' -> 63
                else -> throw TokenizerException("invalid base64 character '$c'")
            }
            buffer = (buffer shl 6) or v
            bits += 6
            if (bits >= 8) {
                bits -= 8
                out.write((buffer shr bits) and 0xff)
            }
        }
        return out.toByteArray()
    }
}

/** Text -> padded model inputs, exactly as Python's `edge_time.runtime.tokenize.TextEncoder`. */
class TextEncoder(val tokenizer: HfTokenizer, val info: TokenizerInfo, val maxLength: Int) {
    class Batch(
        val batch: Int,
        val seqLen: Int,
        val inputIds: LongArray,
        val attentionMask: LongArray,
        val positionIds: LongArray,
        val encodings: List<Encoding>
    ) {
        fun named(name: String): LongArray = when (name) {
            "input_ids" -> inputIds
            "attention_mask" -> attentionMask
            "position_ids" -> positionIds
            else -> throw TokenizerException("the Android app cannot build input '$name'")
        }
    }

    /** Encode [texts]; [seqLen] pads to a fixed width (fixed-shape buckets), else to the longest text. */
    fun encode(texts: List<String>, seqLen: Int? = null): Batch = pad(texts.map { tokenizer.encode(it, maxLength) }, seqLen)

    /** Encode pre-split sentences (word tasks: NER, UD), as Python's `TextEncoder.encode_words`. */
    fun encodeWords(sentences: List<List<String>>, seqLen: Int? = null): Batch =
        pad(sentences.map { tokenizer.encodeWords(it, maxLength) }, seqLen)

    private fun pad(encodings: List<Encoding>, seqLen: Int?): Batch {
        val texts = encodings
        val longest = encodings.map { it.ids.size }.max() ?: 1
        val width = seqLen ?: longest
        if (longest > width) throw TokenizerException("$longest tokens do not fit a sequence length of $width")
        val ids = LongArray(texts.size * width) { info.padId.toLong() }
        val mask = LongArray(texts.size * width)
        val positions = LongArray(texts.size * width) { (it % width + info.positionOffset).toLong() }
        for ((row, enc) in encodings.withIndex()) {
            for (t in enc.ids.indices) {
                ids[row * width + t] = enc.ids[t].toLong()
                mask[row * width + t] = 1L
            }
        }
        return Batch(texts.size, width, ids, mask, positions, encodings)
    }
}
