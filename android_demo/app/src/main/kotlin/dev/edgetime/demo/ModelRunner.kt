package dev.edgetime.demo

import ai.onnxruntime.OnnxJavaType
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import dev.edgetime.core.BundleException
import dev.edgetime.core.Manifest
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer
import java.nio.IntBuffer
import java.nio.LongBuffer
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter

/** One graph input: int64/int32 ids or float32 word pooling, row-major with its shape. */
class InputTensor(val name: String, val shape: LongArray, val longs: LongArray? = null, val floats: FloatArray? = null)

/** One graph output, flattened to float32 (row-major) with its shape. */
class OutputTensor(val shape: LongArray, val data: FloatArray)

/** A loaded model file of the bundle's target runtime: named inputs in, outputs in manifest order out. */
interface ModelRunner : AutoCloseable {
    fun run(inputs: List<InputTensor>): List<OutputTensor>

    companion object {
        fun open(file: File, manifest: Manifest, threads: Int): ModelRunner = when (manifest.target) {
            "executorch" -> ExecuTorchRunner(file, manifest, threads)
            "tflite" -> LiteRtRunner(file, manifest, threads)
            "onnx" -> OrtRunner(file, manifest, threads)
            else -> throw BundleException(
                "the app runs executorch, tflite and onnx bundles, not ${manifest.target}; export with --target executorch"
            )
        }
    }
}

/** ExecuTorch (`org.pytorch:executorch-android`): XNNPACK-delegated or portable .pte programs. */
class ExecuTorchRunner(file: File, private val manifest: Manifest, threads: Int) : ModelRunner {
    private val module: Module = Module.load(file.absolutePath, Module.LOAD_MODE_MMAP, threads)

    init {
        module.loadMethod("forward") // load now, so load time is not charged to the first inference
    }

    override fun run(inputs: List<InputTensor>): List<OutputTensor> {
        val values = inputs.map { input ->
            val spec = manifest.inputs.first { it.name == input.name }
            val tensor = when {
                input.floats != null -> Tensor.fromBlob(input.floats, input.shape)
                spec.dtype == "int32" -> Tensor.fromBlob(IntArray(input.longs!!.size) { input.longs[it].toInt() }, input.shape)
                else -> Tensor.fromBlob(input.longs!!, input.shape)
            }
            EValue.from(tensor)
        }
        return module.forward(*values.toTypedArray()).map { value ->
            val tensor = value.toTensor()
            OutputTensor(tensor.shape(), tensor.dataAsFloatArray)
        }
    }

    override fun close() = module.destroy()
}

/** LiteRT (`com.google.ai.edge.litert`): fixed-shape .tflite buckets; inputs are matched by name, else by order. */
class LiteRtRunner(file: File, private val manifest: Manifest, threads: Int) : ModelRunner {
    private val interpreter = Interpreter(file, Interpreter.Options().setNumThreads(if (threads > 0) threads else -1)) // -1: runtime default
    private val order: List<Int>

    init {
        val names = (0 until interpreter.inputTensorCount).map { interpreter.getInputTensor(it).name() }
        val byName = manifest.inputs.map { spec -> names.indexOfFirst { it.contains(spec.name) } }
        order = if (byName.all { it >= 0 } && byName.toSet().size == byName.size) byName else manifest.inputs.indices.toList()
    }

    override fun run(inputs: List<InputTensor>): List<OutputTensor> {
        val buffers = arrayOfNulls<Any>(interpreter.inputTensorCount)
        for ((k, input) in inputs.withIndex()) {
            val index = order[k]
            val tensor = interpreter.getInputTensor(index)
            val dims = input.shape.map { it.toInt() }.toIntArray()
            if (!tensor.shape().contentEquals(dims)) interpreter.resizeInput(index, dims)
            buffers[index] = when (tensor.dataType()) {
                DataType.FLOAT32 -> direct(input.floats!!.size * 4).apply { asFloatBuffer().put(input.floats) }
                DataType.INT64 -> direct(input.longs!!.size * 8).apply { asLongBuffer().put(input.longs) }
                else -> direct(input.longs!!.size * 4).apply { asIntBuffer().put(IntArray(input.longs.size) { input.longs[it].toInt() }) }
            }
        }
        interpreter.allocateTensors()
        val outputs = HashMap<Int, Any>()
        for (i in 0 until interpreter.outputTensorCount) outputs[i] = direct(interpreter.getOutputTensor(i).numBytes())
        interpreter.runForMultipleInputsOutputs(buffers, outputs)
        return (0 until interpreter.outputTensorCount).map { i ->
            val tensor = interpreter.getOutputTensor(i)
            val buffer = (outputs[i] as ByteBuffer).also { it.rewind() }
            val data = when (tensor.dataType()) {
                DataType.FLOAT32 -> FloatArray(tensor.numElements()).also { buffer.asFloatBuffer().get(it) }
                DataType.INT64 -> LongArray(tensor.numElements()).also { buffer.asLongBuffer().get(it) }.map { it.toFloat() }.toFloatArray()
                else -> IntArray(tensor.numElements()).also { buffer.asIntBuffer().get(it) }.map { it.toFloat() }.toFloatArray()
            }
            OutputTensor(tensor.shape().map { it.toLong() }.toLongArray(), data)
        }
    }

    private fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())

    override fun close() = interpreter.close()
}

/** ONNX Runtime (`com.microsoft.onnxruntime:onnxruntime-android`), CPU execution provider; inputs by name. */
class OrtRunner(file: File, private val manifest: Manifest, threads: Int) : ModelRunner {
    private val env: OrtEnvironment = OrtEnvironment.getEnvironment()
    private val session: OrtSession

    init {
        val options = OrtSession.SessionOptions()
        if (threads > 0) options.setIntraOpNumThreads(threads)
        session = env.createSession(file.absolutePath, options) // external data (model.onnx.data) beside it is found
        options.close()
    }

    override fun run(inputs: List<InputTensor>): List<OutputTensor> {
        val tensors = LinkedHashMap<String, OnnxTensor>()
        try {
            for (input in inputs) {
                val spec = manifest.inputs.first { it.name == input.name }
                tensors[input.name] = when {
                    input.floats != null -> OnnxTensor.createTensor(env, FloatBuffer.wrap(input.floats), input.shape)
                    spec.dtype == "int32" -> OnnxTensor.createTensor(
                        env, IntBuffer.wrap(IntArray(input.longs!!.size) { input.longs[it].toInt() }), input.shape
                    )
                    else -> OnnxTensor.createTensor(env, LongBuffer.wrap(input.longs!!), input.shape)
                }
            }
            val result = session.run(tensors)
            try {
                return (0 until result.size()).map { i ->
                    val tensor = result.get(i) as OnnxTensor
                    val info = tensor.info
                    val data = when (info.type) {
                        OnnxJavaType.FLOAT -> tensor.floatBuffer.let { b -> FloatArray(b.remaining()).also { b.get(it) } }
                        OnnxJavaType.INT64 -> tensor.longBuffer.let { b -> LongArray(b.remaining()).also { b.get(it) } }
                            .map { it.toFloat() }.toFloatArray()
                        else -> tensor.intBuffer.let { b -> IntArray(b.remaining()).also { b.get(it) } }
                            .map { it.toFloat() }.toFloatArray()
                    }
                    OutputTensor(info.shape, data)
                }
            } finally {
                result.close()
            }
        } finally {
            for (tensor in tensors.values) tensor.close()
        }
    }

    override fun close() = session.close()
}
