package dev.edgetime.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The Kotlin tokenizers reproduce the Python (HF `tokenizers`) ids on every generated vector set. */
class TokenizerVectorsTest {
    private fun vectorSets(): List<File> {
        val root = File(Fixtures.require(), "tokenizers")
        return (root.listFiles() ?: emptyArray()).filter { File(it, "test_vectors.json").isFile }.sortedBy { it.name }
    }

    @Test
    fun everyGeneratedVectorSetMatchesPython() {
        val sets = vectorSets()
        val expected = System.getProperty("edgetime.vectors.sets")
        if (expected != null) assertEquals("vector sets found", expected.split(",").sorted(), sets.map { it.name })
        assertTrue("no vector sets generated", sets.isNotEmpty())
        val problems = ArrayList<String>()
        var total = 0
        for (set in sets) {
            val vectors = TestVectors.read(File(set, "test_vectors.json"))
            val tokenizer = HfTokenizer.fromJson(File(set, vectors.tokenizerFile).readText(Charsets.UTF_8))
            val encoder = TextEncoder(tokenizer, vectors.info!!, vectors.maxLength)
            assertTrue("${set.name} has no cases", vectors.cases.isNotEmpty())
            total += vectors.cases.size
            for (failure in vectors.checkTokenizer(encoder)) problems.add("[${set.name}] $failure")
        }
        if (problems.isNotEmpty()) fail("${problems.size} of $total cases differ from Python:\n" + problems.take(8).joinToString("\n"))
    }

    @Test
    fun unsupportedModelIsNamed() {
        try {
            HfTokenizer.fromJson("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}")
            fail("BPE must be rejected")
        } catch (e: TokenizerException) {
            assertTrue(e.message!!.contains("BPE"))
        }
    }
}
