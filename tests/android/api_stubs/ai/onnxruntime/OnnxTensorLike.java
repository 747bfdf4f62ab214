package ai.onnxruntime;
public abstract class OnnxTensorLike { public TensorInfo getInfo(){return null;} }
