package dev.edgetime.core

import java.io.File
import java.security.MessageDigest

/**
 * The bundle manifest (`manifest.json`, schema_version 1), mirrored from `edge_time/bundle.py`.
 *
 * Parsing applies the same rules as Python's `Manifest.from_dict` + `validate` + `safe_join`, so a
 * bundle the Python side rejects is rejected here too (tests/android checks both on the same cases).
 */
class BundleException(message: String) : RuntimeException(message)

const val MANIFEST_SCHEMA_VERSION = 1
const val MANIFEST_NAME = "manifest.json"
val TARGETS = listOf("executorch", "tflite", "onnx")
val QUANTIZATIONS = listOf("none", "fp16", "int8-dynamic", "int8-static")
val TASKS = listOf("encoder", "ud", "ner", "cls", "qa")
val DTYPES = listOf("int32", "int64", "float32", "float16", "bool")

class TensorSpec(val name: String, val dtype: String, val shape: List<Any>)

class GraphFile(val file: String, val seqLen: Int?, val batch: Int?)

class TokenizerInfo(
    val file: String,
    val kind: String,
    val lowercase: Boolean,
    val padId: Int,
    val clsId: Int?,
    val sepId: Int?,
    val unkId: Int?,
    val positionStyle: String
) {
    /** roberta positions start at pad_id + 1, bert positions at 0 (as `TextEncoder.position_offset`). */
    val positionOffset: Int get() = if (positionStyle == "roberta") padId + 1 else 0
}

class Manifest(
    val target: String,
    val quantization: String,
    val task: String,
    val graphs: List<GraphFile>,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val axes: Map<String, List<Long>>,
    val maxLength: Int,
    val tokenizer: TokenizerInfo,
    val source: Map<String, Any?>,
    val files: Map<String, String>,
    val labels: Map<String, List<String>>,
    val taskConfig: Map<String, Any?>,
    val android: Map<String, Any?>,
    val runtime: Map<String, Any?>,
    val edgeTimeVersion: String,
    val schemaVersion: Int
) {
    fun validate() {
        if (schemaVersion != MANIFEST_SCHEMA_VERSION) throw BundleException(
            "manifest schema_version $schemaVersion is not supported by this app (reads " +
                "$MANIFEST_SCHEMA_VERSION); re-export the bundle with a matching edge-time"
        )
        if (target !in TARGETS) throw BundleException("manifest target '$target' is not one of $TARGETS")
        if (quantization !in QUANTIZATIONS) throw BundleException("manifest quantization '$quantization' is not one of $QUANTIZATIONS")
        if (task !in TASKS) throw BundleException("manifest task '$task' is not one of $TASKS")
        if (graphs.isEmpty()) throw BundleException("manifest lists no model file under 'graphs'")
        for (spec in inputs + outputs) {
            for (dim in spec.shape) {
                if (dim is String && dim !in axes) throw BundleException("tensor '${spec.name}' uses axis '$dim' that 'axes' does not bound")
            }
        }
        for (rel in graphs.map { it.file } + tokenizer.file) {
            if (rel !in files) throw BundleException("manifest does not list a sha256 for '$rel'")
        }
    }

    /** The model file serving [seqLen] tokens: the dynamic graph, or the smallest fixed bucket that fits. */
    fun graphFor(seqLen: Int): GraphFile {
        graphs.firstOrNull { it.seqLen == null }?.let { return it }
        val fitting = graphs.filter { it.seqLen!! >= seqLen }.sortedBy { it.seqLen!! }
        if (fitting.isEmpty()) {
            val largest = graphs.map { it.seqLen!! }.max()
            throw BundleException("$seqLen tokens exceed the largest exported bucket ($largest); use a shorter text or re-export")
        }
        return fitting[0]
    }

    companion object {
        private val TOP_KEYS = setOf(
            "target", "quantization", "task", "graphs", "inputs", "outputs", "axes", "max_length", "tokenizer",
            "source", "files", "labels", "task_config", "parity", "android", "runtime", "edge_time_version",
            "schema_version"
        )
        private val REQUIRED = listOf(
            "target", "quantization", "task", "graphs", "inputs", "outputs", "axes", "max_length", "tokenizer", "source"
        )

        fun parse(text: String): Manifest {
            val data = try {
                Json.parseObject(text)
            } catch (e: JsonException) {
                throw BundleException("manifest.json: ${e.message}")
            }
            return fromMap(data)
        }

        fun fromMap(data: Map<String, Any?>): Manifest {
            val manifest = try {
                build(data)
            } catch (e: JsonException) {
                throw BundleException("manifest.json is malformed (${e.message}); re-export the bundle")
            }
            manifest.validate()
            return manifest
        }

        private fun checkKeys(map: Map<String, Any?>, allowed: Set<String>, required: List<String>, what: String) {
            val unknown = map.keys.filter { it !in allowed }
            if (unknown.isNotEmpty()) throw JsonException("$what has unexpected field(s) $unknown")
            val missing = required.filter { it !in map }
            if (missing.isNotEmpty()) throw JsonException("$what is missing $missing")
        }

        private fun optInt(value: Any?, what: String): Int? = if (value == null) null else J.int(value, what)

        private fun build(data: Map<String, Any?>): Manifest {
            checkKeys(data, TOP_KEYS, REQUIRED, "manifest")
            val graphs = J.list(data["graphs"], "graphs").mapIndexed { i, g ->
                val m = J.obj(g, "graphs[$i]")
                checkKeys(m, setOf("file", "seq_len", "batch"), listOf("file"), "graphs[$i]")
                GraphFile(J.str(m["file"], "graphs[$i].file"), optInt(m["seq_len"], "graphs[$i].seq_len"), optInt(m["batch"], "graphs[$i].batch"))
            }
            val inputs = tensors(data["inputs"], "inputs")
            val outputs = tensors(data["outputs"], "outputs")
            val axes = LinkedHashMap<String, List<Long>>()
            for ((name, bounds) in J.obj(data["axes"], "axes")) {
                axes[name] = J.list(bounds, "axes.$name").map { J.long(it, "axes.$name") }
            }
            val t = J.obj(data["tokenizer"], "tokenizer")
            checkKeys(
                t, setOf("file", "kind", "lowercase", "pad_id", "cls_id", "sep_id", "unk_id", "position_style"),
                emptyList(), "tokenizer"
            )
            val tokenizer = TokenizerInfo(
                file = if ("file" in t) J.str(t["file"], "tokenizer.file") else "tokenizer.json",
                kind = if ("kind" in t) J.str(t["kind"], "tokenizer.kind") else "wordpiece",
                lowercase = if ("lowercase" in t) J.bool(t["lowercase"], "tokenizer.lowercase") else false,
                padId = if ("pad_id" in t) J.int(t["pad_id"], "tokenizer.pad_id") else 0,
                clsId = optInt(t["cls_id"], "tokenizer.cls_id"),
                sepId = optInt(t["sep_id"], "tokenizer.sep_id"),
                unkId = optInt(t["unk_id"], "tokenizer.unk_id"),
                positionStyle = if ("position_style" in t) J.str(t["position_style"], "tokenizer.position_style") else "bert"
            )
            val files = LinkedHashMap<String, String>()
            if (data["files"] != null) for ((k, v) in J.obj(data["files"], "files")) files[k] = J.str(v, "files.$k")
            val labels = LinkedHashMap<String, List<String>>()
            if (data["labels"] != null) for ((k, v) in J.obj(data["labels"], "labels")) {
                labels[k] = J.list(v, "labels.$k").map { J.str(it, "labels.$k") }
            }
            return Manifest(
                target = J.str(data["target"], "target"),
                quantization = J.str(data["quantization"], "quantization"),
                task = J.str(data["task"], "task"),
                graphs = graphs,
                inputs = inputs,
                outputs = outputs,
                axes = axes,
                maxLength = J.int(data["max_length"], "max_length"),
                tokenizer = tokenizer,
                source = J.obj(data["source"], "source"),
                files = files,
                labels = labels,
                taskConfig = if (data["task_config"] != null) J.obj(data["task_config"], "task_config") else emptyMap(),
                android = if (data["android"] != null) J.obj(data["android"], "android") else emptyMap(),
                runtime = if (data["runtime"] != null) J.obj(data["runtime"], "runtime") else emptyMap(),
                edgeTimeVersion = if (data["edge_time_version"] != null) J.str(data["edge_time_version"], "edge_time_version") else "",
                schemaVersion = if ("schema_version" in data) J.int(data["schema_version"], "schema_version") else MANIFEST_SCHEMA_VERSION
            )
        }

        private fun tensors(value: Any?, what: String): List<TensorSpec> = J.list(value, what).mapIndexed { i, item ->
            val m = J.obj(item, "$what[$i]")
            checkKeys(m, setOf("name", "dtype", "shape"), listOf("name", "dtype", "shape"), "$what[$i]")
            val name = J.str(m["name"], "$what[$i].name")
            val dtype = J.str(m["dtype"], "$what[$i].dtype")
            if (dtype !in DTYPES) throw BundleException("tensor '$name': dtype '$dtype' is not one of $DTYPES")
            val shape = J.list(m["shape"], "$what[$i].shape").map { dim ->
                when (dim) {
                    is String -> dim
                    is Long -> dim
                    else -> throw JsonException("$what[$i].shape holds $dim; dims are integers or axis names")
                }
            }
            TensorSpec(name, dtype, shape)
        }
    }
}

object Bundles {
    /**
     * Resolve [relative] inside [root]; refuse absolute paths, backslashes and anything that escapes the
     * folder (after following `..` and symlinks), as Python's `safe_join`.
     */
    fun safeJoin(root: File, relative: String): File {
        if (relative.length == 0 || relative.startsWith("/") || relative.contains("\\")) {
            throw BundleException("bundle path '$relative' must be a relative path inside the bundle")
        }
        val rootResolved = root.canonicalFile
        val candidate = File(rootResolved, relative).canonicalFile
        if (candidate != rootResolved && !candidate.path.startsWith(rootResolved.path + File.separator)) {
            throw BundleException("bundle path '$relative' escapes the bundle folder $root")
        }
        return candidate
    }

    fun sha256(file: File): String {
        val digest = MessageDigest.getInstance("SHA-256")
        file.inputStream().use { input ->
            val buffer = ByteArray(1 shl 16)
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                digest.update(buffer, 0, n)
            }
        }
        return digest.digest().joinToString("") { String.format("%02x", it.toInt() and 0xff) }
    }

    /** Read, validate and (with [verify]) hash-check a bundle folder, as Python's `read_manifest`. */
    fun readManifest(root: File, verify: Boolean = true): Manifest {
        if (!root.isDirectory) throw BundleException("bundle folder $root does not exist; push the folder `edge-time export` wrote")
        val path = File(root, MANIFEST_NAME)
        if (!path.isFile) throw BundleException("$root has no $MANIFEST_NAME; it is not an edge-time bundle")
        val manifest = Manifest.parse(path.readText(Charsets.UTF_8))
        for (rel in manifest.files.keys) safeJoin(root, rel)
        if (verify) {
            for ((rel, expected) in manifest.files) {
                val file = safeJoin(root, rel)
                if (!file.isFile) throw BundleException("bundle file $rel is missing from $root; push the whole bundle again")
                if (sha256(file) != expected) throw BundleException(
                    "bundle file $rel does not match its sha256 in manifest.json (tampered or corrupted); push it again"
                )
            }
        }
        return manifest
    }
}
