package org.pytorch.executorch;
public class Module { public static final int LOAD_MODE_FILE=0; public static final int LOAD_MODE_MMAP=1; public static Module load(String p, int m, int n){return null;} public void loadMethod(String n){} public EValue[] forward(EValue... in){return null;} public void destroy(){} }
