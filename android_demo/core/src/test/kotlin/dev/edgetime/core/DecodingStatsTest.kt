package dev.edgetime.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** BIO decoding and latency statistics give what Python (decode.bio_spans, numpy) gives. */
class DecodingStatsTest {
    @Test
    fun bioSpansMatchPython() {
        val cases = J.list(Fixtures.json("bio_cases.json"), "bio cases")
        assertTrue(cases.size >= 50)
        for (item in cases) {
            val case = J.obj(item, "case")
            val tags = J.list(case["tags"], "tags").map { it as String }
            val want = J.list(case["spans"], "spans").map {
                val s = J.list(it, "span")
                Span(s[0] as String, J.int(s[1], "first"), J.int(s[2], "last"))
            }
            assertEquals("tags $tags", want, Decoding.bioSpans(tags))
        }
    }

    @Test
    fun statisticsMatchTheProfiler() {
        val cases = J.list(Fixtures.json("stats_cases.json"), "stats cases")
        assertTrue(cases.isNotEmpty())
        for (item in cases) {
            val case = J.obj(item, "case")
            val values = J.list(case["values"], "values").map { J.double(it, "v") }.toDoubleArray()
            val got = Stats.summarize(values).toMap()
            val want = J.obj(case["summary"], "summary")
            assertEquals(want.keys, got.keys)
            assertEquals(J.long(want["count"], "count"), (got["count"] as Int).toLong())
            for (key in listOf("mean_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p99_ms")) {
                val want = J.double(want[key], key)
                val have = got[key] as Double
                assertEquals("$key of ${values.size} values", want, have, 1e-12 * maxOf(1.0, Math.abs(want)))
            }
        }
    }

    @Test
    fun wordInputsMatchPython() {
        val cases = J.list(Fixtures.json("word_input_cases.json"), "word input cases")
        assertTrue(cases.size >= 20)
        for (item in cases) {
            val case = J.obj(item, "case")
            val built = WordInputs.build(
                listOf(J.intList(case["word_ids"], "word_ids")), intArrayOf(J.int(case["n_words"], "n_words")),
                case["pooling"] as String, case["root_row"] == true, case["width"]?.let { J.int(it, "width") }
            )
            val pool = J.list(case["pool"], "pool").map { J.double(it, "pool").toFloat() }
            assertEquals("word_pool of $case", pool, built.pool.toList())
            assertEquals("word_mask of $case", J.list(case["mask"], "mask").map { J.long(it, "mask") }, built.mask.toList())
        }
    }

    @Test
    fun wordLabelsTakeTheFirstSubToken() {
        val labels = listOf("O", "B-PER", "I-PER", "O", "B-LOC", "O")
        val words = intArrayOf(-1, 0, 0, 1, 2, -1)
        assertEquals(listOf("B-PER", "O", "B-LOC"), Decoding.wordLabels(labels, words))
    }

    @Test
    fun percentileEdges() {
        assertEquals(5.0, Stats.percentile(doubleArrayOf(5.0), 99.0), 0.0)
        assertEquals(1.0, Stats.percentile(doubleArrayOf(3.0, 1.0, 2.0), 0.0), 0.0)
        assertEquals(3.0, Stats.percentile(doubleArrayOf(3.0, 1.0, 2.0), 100.0), 0.0)
        assertEquals(2.5, Stats.percentile(doubleArrayOf(1.0, 2.0, 3.0, 4.0), 50.0), 0.0)
    }
}
