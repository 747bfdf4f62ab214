package ai.onnxruntime;
public class TensorInfo { public final OnnxJavaType type = null; public long[] getShape(){return null;} }
