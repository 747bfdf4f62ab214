package dev.edgetime.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class ManifestJsonTest {
    /** Python's Manifest.from_dict + safe_join and the Kotlin parser accept and reject the same manifests. */
    @Test
    fun manifestVerdictsMatchPython() {
        val cases = J.list(Fixtures.json("manifest_cases.json"), "manifest cases")
        assertTrue(cases.size >= 10)
        val root = File(Fixtures.require(), "manifest_root")
        for (item in cases) {
            val case = J.obj(item, "case")
            val name = case["name"] as String
            val ok = case["ok"] as Boolean
            val error = try {
                val manifest = Manifest.fromMap(J.obj(case["manifest"], "manifest"))
                for (rel in manifest.files.keys) Bundles.safeJoin(root, rel)
                null
            } catch (e: BundleException) {
                e.message
            }
            if (ok) assertEquals("case $name should be accepted", null, error)
            else assertTrue("case $name should be rejected like Python (${case["error"]})", error != null)
        }
    }

    @Test
    fun bundleHashesAreVerified() {
        val root = Fixtures.require()
        val manifest = Bundles.readManifest(File(root, "bundle_ok"), verify = true)
        assertEquals("ner", manifest.task)
        try {
            Bundles.readManifest(File(root, "bundle_tampered"), verify = true)
            fail("a tampered file must be rejected")
        } catch (e: BundleException) {
            assertTrue(e.message!!, e.message!!.contains("sha256"))
        }
    }

    @Test
    fun jsonRoundTripAndErrors() {
        val text = "{\"a\": [1, -2.5e3, true, null, \"\\u00e9\\ud83d\\ude00\\n\"], \"b\": {}}"
        val value = Json.parseObject(text)
        assertEquals(listOf(1L, -2500.0, true, null, "\u00e9\ud83d\ude00\n"), value["a"])
        assertEquals(value, Json.parseObject(Json.write(value, indent = 2)))
        for (bad in listOf("{\"a\": 1,}", "[1 2]", "{\"a\" 1}", "\"open", "01", "{} x", "[1.]", "nul")) {
            try {
                Json.parse(bad)
                fail("'$bad' must be rejected")
            } catch (e: JsonException) {
                assertTrue(e.message!!.contains("invalid JSON") || e.message!!.contains("line"))
            }
        }
    }

    @Test
    fun outputChecksCatchWrongLabels() {
        val case = VectorCase("t", 3, intArrayOf(1, 2, 3), intArrayOf(1, 1, 1), intArrayOf(0, 1, 2), intArrayOf(-1, 0, -1),
            listOf("a", "b", "c"), mapOf("logits" to mapOf<String, Any?>("argmax" to listOf(1L, -1L, 0L), "num_labels" to 2L)))
        val right = floatArrayOf(0f, 1f, 5f, 5f, 1f, 0f)
        val wrong = floatArrayOf(1f, 0f, 5f, 5f, 1f, 0f)
        assertEquals(emptyList<String>(), TestVectors.checkOutputs(case, mapOf("logits" to right)))
        assertEquals(1, TestVectors.checkOutputs(case, mapOf("logits" to wrong)).size)
        val hidden = VectorCase("t", 1, intArrayOf(1), intArrayOf(1), intArrayOf(0), intArrayOf(-1), listOf("a"),
            mapOf("h" to mapOf<String, Any?>("values" to listOf(0.5, -1.0), "atol" to 0.01)))
        assertEquals(0, TestVectors.checkOutputs(hidden, mapOf("h" to floatArrayOf(0.505f, -1.0f))).size)
        assertEquals(1, TestVectors.checkOutputs(hidden, mapOf("h" to floatArrayOf(0.6f, -1.0f))).size)
    }
}
