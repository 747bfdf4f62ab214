package dev.edgetime.demo;
public final class BuildConfig { public static final String EXECUTORCH_VERSION = "stub", ONNXRUNTIME_VERSION = "stub", LITERT_VERSION = "stub", LITERT_WHEEL_VERSION = "stub"; }
