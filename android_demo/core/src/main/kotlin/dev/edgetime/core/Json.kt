package dev.edgetime.core

/**
 * A small strict JSON reader and writer (RFC 8259), so `core` needs nothing beyond the Kotlin stdlib.
 *
 * Values map to Kotlin as: object -> LinkedHashMap<String, Any?> (key order kept), array -> List<Any?>,
 * string -> String, integer literal -> Long, other number -> Double, true/false -> Boolean, null -> null.
 */
class JsonException(message: String) : RuntimeException(message)

object Json {
    fun parse(text: String): Any? {
        val parser = Parser(text)
        parser.skipWhitespace()
        val value = parser.readValue(0)
        parser.skipWhitespace()
        if (parser.pos != text.length) throw parser.error("trailing characters after the JSON value")
        return value
    }

    fun parseObject(text: String): Map<String, Any?> {
        val value = parse(text)
        if (value !is Map<*, *>) throw JsonException("expected a JSON object at the top level")
        @Suppress("UNCHECKED_CAST")
        return value as Map<String, Any?>
    }

    /** Serialise maps, lists, strings, numbers, booleans and null; [indent] > 0 pretty-prints. */
    fun write(value: Any?, indent: Int = 0): String {
        val out = StringBuilder()
        writeValue(out, value, indent, 0)
        return out.toString()
    }

    fun quote(text: String): String {
        val out = StringBuilder(text.length + 2)
        writeString(out, text)
        return out.toString()
    }

    private fun writeValue(out: StringBuilder, value: Any?, indent: Int, depth: Int) {
        when (value) {
            null -> out.append("null")
            is String -> writeString(out, value)
            is Boolean -> out.append(if (value) "true" else "false")
            is Int, is Long, is Short, is Byte -> out.append(value.toString())
            is Double -> writeDouble(out, value)
            is Float -> writeDouble(out, value.toDouble())
            is Map<*, *> -> {
                if (value.isEmpty()) { out.append("{}"); return }
                out.append('{')
                var first = true
                for ((key, item) in value) {
                    if (!first) out.append(',')
                    first = false
                    newline(out, indent, depth + 1)
                    writeString(out, key.toString())
                    out.append(if (indent > 0) ": " else ":")
                    writeValue(out, item, indent, depth + 1)
                }
                newline(out, indent, depth)
                out.append('}')
            }
            is Iterable<*> -> {
                val items = value.toList()
                if (items.isEmpty()) { out.append("[]"); return }
                out.append('[')
                for ((i, item) in items.withIndex()) {
                    if (i > 0) out.append(if (indent > 0) ", " else ",")
                    writeValue(out, item, indent, depth + 1)
                }
                out.append(']')
            }
            is IntArray -> writeValue(out, value.toList(), indent, depth)
            is LongArray -> writeValue(out, value.toList(), indent, depth)
            is DoubleArray -> writeValue(out, value.toList(), indent, depth)
            else -> throw JsonException("cannot write a ${value.javaClass.name} as JSON")
        }
    }

    private fun newline(out: StringBuilder, indent: Int, depth: Int) {
        if (indent <= 0) return
        out.append('\n')
        for (i in 0 until indent * depth) out.append(' ')
    }

    private fun writeDouble(out: StringBuilder, value: Double) {
        if (value.isNaN() || value.isInfinite()) throw JsonException("JSON has no NaN or infinity (got $value)")
        out.append(value.toString()) // e.g. 12.5, 1.0E-4: both valid JSON numbers
    }

    private fun writeString(out: StringBuilder, text: String) {
        out.append('"')
        for (c in text) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c == '\r' -> out.append("\\r")
                c == '\t' -> out.append("\\t")
                c.toInt() < 0x20 -> out.append(String.format("\\u%04x", c.toInt()))
                else -> out.append(c)
            }
        }
        out.append('"')
    }

    private class Parser(val text: String) {
        var pos = 0

        fun error(message: String): JsonException {
            var line = 1
            var column = 1
            for (i in 0 until minOf(pos, text.length)) {
                if (text[i] == '\n') { line++; column = 1 } else column++
            }
            return JsonException("invalid JSON at line $line column $column: $message")
        }

        fun skipWhitespace() {
            while (pos < text.length) {
                val c = text[pos]
                if (c == ' ' || c == '\n' || c == '\r' || c == '\t') pos++ else return
            }
        }

        fun readValue(depth: Int): Any? {
            if (depth > 512) throw error("nesting deeper than 512 levels")
            if (pos >= text.length) throw error("unexpected end of input")
            val c = text[pos]
            return when {
                c == '{' -> readObject(depth)
                c == '[' -> readArray(depth)
                c == '"' -> readString()
                c == 't' -> literal("true", true)
                c == 'f' -> literal("false", false)
                c == 'n' -> literal("null", null)
                c == '-' || (c in '0'..'9') -> readNumber()
                else -> throw error("unexpected character '$c'")
            }
        }

        private fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, pos)) throw error("expected '$word'")
            pos += word.length
            return value
        }

        private fun readObject(depth: Int): Map<String, Any?> {
            pos++ // {
            val result = LinkedHashMap<String, Any?>()
            skipWhitespace()
            if (pos < text.length && text[pos] == '}') { pos++; return result }
            while (true) {
                skipWhitespace()
                if (pos >= text.length || text[pos] != '"') throw error("expected a string key")
                val key = readString()
                skipWhitespace()
                if (pos >= text.length || text[pos] != ':') throw error("expected ':' after a key")
                pos++
                skipWhitespace()
                result[key] = readValue(depth + 1)
                skipWhitespace()
                if (pos >= text.length) throw error("unterminated object")
                when (text[pos]) {
                    ',' -> pos++
                    '}' -> { pos++; return result }
                    else -> throw error("expected ',' or '}' in an object")
                }
            }
        }

        private fun readArray(depth: Int): List<Any?> {
            pos++ // [
            val result = ArrayList<Any?>()
            skipWhitespace()
            if (pos < text.length && text[pos] == ']') { pos++; return result }
            while (true) {
                skipWhitespace()
                result.add(readValue(depth + 1))
                skipWhitespace()
                if (pos >= text.length) throw error("unterminated array")
                when (text[pos]) {
                    ',' -> pos++
                    ']' -> { pos++; return result }
                    else -> throw error("expected ',' or ']' in an array")
                }
            }
        }

        private fun readString(): String {
            pos++ // opening quote
            val out = StringBuilder()
            while (true) {
                if (pos >= text.length) throw error("unterminated string")
                val c = text[pos++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (pos >= text.length) throw error("unterminated escape")
                        val e = text[pos++]
                        when (e) {
                            '"' -> out.append('"')
                            '\\' -> out.append('\\')
                            '/' -> out.append('/')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (pos + 4 > text.length) throw error("short \\u escape")
                                val hex = text.substring(pos, pos + 4)
                                val code = hex.toIntOrNull(16) ?: throw error("bad \\u escape '$hex'")
                                out.append(code.toChar())
                                pos += 4
                            }
                            else -> throw error("bad escape '\\$e'")
                        }
                    }
                    c.toInt() < 0x20 -> throw error("control character in a string")
                    else -> out.append(c)
                }
            }
        }

        private fun readNumber(): Any {
            val start = pos
            if (text[pos] == '-') pos++
            if (pos >= text.length) throw error("bad number")
            if (text[pos] == '0') {
                pos++
            } else if (text[pos] in '1'..'9') {
                while (pos < text.length && text[pos] in '0'..'9') pos++
            } else throw error("bad number")
            var integral = true
            if (pos < text.length && text[pos] == '.') {
                integral = false
                pos++
                val digits = pos
                while (pos < text.length && text[pos] in '0'..'9') pos++
                if (pos == digits) throw error("bad number: no digits after '.'")
            }
            if (pos < text.length && (text[pos] == 'e' || text[pos] == 'E')) {
                integral = false
                pos++
                if (pos < text.length && (text[pos] == '+' || text[pos] == '-')) pos++
                val digits = pos
                while (pos < text.length && text[pos] in '0'..'9') pos++
                if (pos == digits) throw error("bad number: no exponent digits")
            }
            val literal = text.substring(start, pos)
            if (integral) {
                val asLong = literal.toLongOrNull()
                if (asLong != null) return asLong
            }
            return literal.toDouble()
        }
    }
}

/** Typed access to parsed JSON with errors that name the field. */
object J {
    @Suppress("UNCHECKED_CAST")
    fun obj(value: Any?, what: String): Map<String, Any?> =
        value as? Map<String, Any?> ?: throw JsonException("$what must be a JSON object")

    fun list(value: Any?, what: String): List<Any?> = value as? List<Any?> ?: throw JsonException("$what must be a JSON array")

    fun str(value: Any?, what: String): String = value as? String ?: throw JsonException("$what must be a string")

    fun long(value: Any?, what: String): Long = when (value) {
        is Long -> value
        is Double -> if (value == Math.floor(value) && !value.isInfinite()) value.toLong()
        else throw JsonException("$what must be an integer")
        else -> throw JsonException("$what must be an integer")
    }

    fun int(value: Any?, what: String): Int = long(value, what).toInt()

    fun double(value: Any?, what: String): Double = when (value) {
        is Long -> value.toDouble()
        is Double -> value
        else -> throw JsonException("$what must be a number")
    }

    fun bool(value: Any?, what: String): Boolean = value as? Boolean ?: throw JsonException("$what must be true or false")

    fun intList(value: Any?, what: String): IntArray {
        val items = list(value, what)
        return IntArray(items.size) { int(items[it], "$what[$it]") }
    }
}
