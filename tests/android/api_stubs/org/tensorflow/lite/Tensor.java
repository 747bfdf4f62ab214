package org.tensorflow.lite;
public interface Tensor { String name(); DataType dataType(); int[] shape(); int numBytes(); int numElements(); }
