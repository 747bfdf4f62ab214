package android.os;
public class Bundle { public String getString(String k){return null;} public int getInt(String k, int d){return d;} public float getFloat(String k){return 0f;} public boolean containsKey(String k){return false;} }
