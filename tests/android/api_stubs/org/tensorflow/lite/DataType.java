package org.tensorflow.lite;
public enum DataType { FLOAT32, INT32, UINT8, INT64 }
