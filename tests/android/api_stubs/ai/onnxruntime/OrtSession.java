package ai.onnxruntime;
public class OrtSession implements AutoCloseable {
  public static class SessionOptions implements AutoCloseable { public void setIntraOpNumThreads(int n) throws OrtException {} public void close(){} }
  public static class Result implements AutoCloseable { public int size(){return 0;} public OnnxValue get(int index){return null;} public void close(){} }
  public java.util.Set<String> getInputNames() throws OrtException {return null;}
  public Result run(java.util.Map<String, ? extends OnnxTensorLike> inputs) throws OrtException {return null;}
  public void close() throws OrtException {}
}
