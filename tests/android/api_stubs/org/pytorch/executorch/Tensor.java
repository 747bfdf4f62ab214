package org.pytorch.executorch;
public abstract class Tensor { public static Tensor fromBlob(long[] d, long[] s){return null;} public static Tensor fromBlob(int[] d, long[] s){return null;} public static Tensor fromBlob(float[] d, long[] s){return null;} public long[] shape(){return null;} public float[] getDataAsFloatArray(){return null;} }
