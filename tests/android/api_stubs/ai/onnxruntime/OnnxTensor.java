package ai.onnxruntime;
public class OnnxTensor extends OnnxTensorLike implements OnnxValue {
  public static OnnxTensor createTensor(OrtEnvironment env, java.nio.FloatBuffer data, long[] shape) throws OrtException {return null;}
  public static OnnxTensor createTensor(OrtEnvironment env, java.nio.LongBuffer data, long[] shape) throws OrtException {return null;}
  public static OnnxTensor createTensor(OrtEnvironment env, java.nio.IntBuffer data, long[] shape) throws OrtException {return null;}
  public java.nio.FloatBuffer getFloatBuffer(){return null;} public java.nio.LongBuffer getLongBuffer(){return null;} public java.nio.IntBuffer getIntBuffer(){return null;}
  public Object getValue() throws OrtException {return null;} public void close(){}
}
