package dev.edgetime.core

/**
 * The runtime versions this app was built with (app/build.gradle.kts passes gradle.properties'
 * pins through BuildConfig). [litertWheel] is the Python `ai-edge-litert` those pins were checked
 * against: the Android LiteRT artifact is versioned apart from the wheel that verifies bundles.
 */
class AppRuntimes(val executorch: String, val onnxruntime: String, val litert: String, val litertWheel: String)

/** [error]: refuse the bundle (one line naming both versions and the fix); [warning]: load, but say why it may fail. */
class RuntimeVerdict(val error: String?, val warning: String?)

/**
 * The manifest's `runtime` (the package that verified the graphs at export, and its version) against
 * the app's pinned runtime. The rule, per target, from each runtime's documented policy:
 *
 * - executorch: a .pte loads in the runtime of its own release and at least one following minor (or
 *   major) release (ExecuTorch runtime/COMPATIBILITY.md); no forward compatibility. App older than
 *   the writer (major.minor): refuse. More than one release newer: warn.
 * - onnx: onnxruntime runs models from older releases, not opsets newer than it knows. App older
 *   than the verifier (major.minor): refuse.
 * - tflite: op versions newer than the app's LiteRT fail at load. Verified with a newer
 *   ai-edge-litert than [AppRuntimes.litertWheel]: warn.
 *
 * Patch releases never matter. A bundle without the field (exported before it existed) loads with a
 * warning, as does a version that is not dotted numbers.
 */
object RuntimeCheck {
    val RUNTIME_OF = mapOf("executorch" to "executorch", "onnx" to "onnxruntime", "tflite" to "ai-edge-litert")

    /** major and minor of "1.5.1", "2.13.0+cpu", "1.6.0.dev20250101"; null when not numeric. */
    fun majorMinor(version: String): Pair<Int, Int>? {
        val m = Regex("^(\\d+)\\.(\\d+)").find(version.trim()) ?: return null
        return Pair(m.groupValues[1].toInt(), m.groupValues[2].toInt())
    }

    private fun older(a: Pair<Int, Int>, b: Pair<Int, Int>): Boolean =
        a.first < b.first || (a.first == b.first && a.second < b.second)

    fun check(target: String, runtime: Map<String, Any?>, app: AppRuntimes): RuntimeVerdict {
        val expected = RUNTIME_OF[target] ?: return RuntimeVerdict("the app runs ${RUNTIME_OF.keys} bundles, not $target", null)
        val (appName, appVersion) = when (target) {
            "executorch" -> Pair("executorch-android", app.executorch)
            "onnx" -> Pair("onnxruntime-android", app.onnxruntime)
            else -> Pair("LiteRT (checked against ai-edge-litert ${app.litertWheel})", app.litert)
        }
        val name = runtime["name"] as? String
        val version = runtime["version"] as? String
        if (name == null || version == null) return RuntimeVerdict(
            null, "the bundle records no runtime version (exported by an older edge-time); the app's $appName " +
                "$appVersion may not load it: re-export with this edge-time to have it checked"
        )
        if (name != expected) return RuntimeVerdict(
            "the manifest says a $target bundle was verified with $name $version, not $expected; re-export the bundle", null
        )
        val writer = majorMinor(version)
        val mine = majorMinor(if (target == "tflite") app.litertWheel else appVersion)
        if (writer == null || mine == null) return RuntimeVerdict(
            null, "cannot compare $name $version (bundle) with the app's $appName $appVersion; loading anyway"
        )
        return when (target) {
            "executorch" -> when {
                older(mine, writer) -> RuntimeVerdict(
                    "this .pte was written by executorch $version but the app has executorch-android $appVersion, and " +
                        "ExecuTorch promises no forward compatibility: rebuild the app with -PexecutorchVersion=$version " +
                        "or export with executorch==${mine.first}.${mine.second}.*", null
                )
                releasesApart(writer, mine) > 1 -> RuntimeVerdict(
                    null, "this .pte was written by executorch $version; the app's executorch-android $appVersion is more " +
                        "than one release newer, beyond ExecuTorch's compatibility guarantee: re-export with executorch==$appVersion"
                )
                else -> RuntimeVerdict(null, null)
            }
            "onnx" -> if (older(mine, writer)) RuntimeVerdict(
                "this bundle was verified with onnxruntime $version but the app has onnxruntime-android $appVersion, which " +
                    "may not know its opset or operators: rebuild the app with -PonnxruntimeVersion=$version or export " +
                    "with onnxruntime==${mine.first}.${mine.second}.*", null
            ) else RuntimeVerdict(null, null)
            else -> if (older(mine, writer)) RuntimeVerdict(
                null, "this bundle was verified with ai-edge-litert $version, newer than the ${app.litertWheel} the app's " +
                    "LiteRT ${app.litert} was checked against; an op version it lacks fails at load ('Didn't find op'): " +
                    "rebuild the app with a newer -PlitertVersion or export with ai-edge-litert==${app.litertWheel}"
            ) else RuntimeVerdict(null, null)
        }
    }

    /** Non-patch releases from [from] to [to]: minors within a major; a major step counts one. */
    private fun releasesApart(from: Pair<Int, Int>, to: Pair<Int, Int>): Int =
        if (to.first == from.first) to.second - from.second else if (to.first == from.first + 1 && to.second == 0) 1 else 2
}
