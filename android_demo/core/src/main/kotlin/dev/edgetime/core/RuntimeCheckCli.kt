@file:JvmName("RuntimeCheckCli")

package dev.edgetime.core

/**
 * `java -cp core.jar dev.edgetime.core.RuntimeCheckCli TARGET MANIFEST_RUNTIME_JSON EXECUTORCH ONNXRUNTIME LITERT LITERT_WHEEL`
 *
 * Prints the app's verdict on a manifest `runtime` as {"error": ..., "warning": ...}, so tests/android
 * can check that the versions the exporter records pass the check with the versions the app pins.
 */
fun main(args: Array<String>) {
    if (args.size != 6) {
        System.err.println("usage: RuntimeCheckCli TARGET MANIFEST_RUNTIME_JSON EXECUTORCH ONNXRUNTIME LITERT LITERT_WHEEL")
        System.exit(2)
    }
    val verdict = RuntimeCheck.check(args[0], Json.parseObject(args[1]), AppRuntimes(args[2], args[3], args[4], args[5]))
    println(Json.write(linkedMapOf("error" to verdict.error, "warning" to verdict.warning)))
}
