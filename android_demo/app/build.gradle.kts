plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.edgetime.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.edgetime.demo"
        // 26 (Android 8.0): above the ExecuTorch/LiteRT AAR floors, and java.nio.file / java.util.Base64
        // exist; ~97% of active devices. edge_time/exporters/android.py records the same MIN_SDK.
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
        // the pinned runtime versions, for core's RuntimeCheck against each bundle's manifest
        for ((field, prop) in listOf(
            "EXECUTORCH_VERSION" to "executorchVersion", "ONNXRUNTIME_VERSION" to "onnxruntimeVersion",
            "LITERT_VERSION" to "litertVersion", "LITERT_WHEEL_VERSION" to "litertWheelVersion"
        )) buildConfigField("String", field, "\"${property(prop)}\"")
    }
    buildFeatures { buildConfig = true }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug") // a demo: installable without a keystore
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    // .pte / .tflite files are memory-mapped from disk, never compressed into the APK
    androidResources { noCompress += listOf("pte", "tflite") }
}

kotlin {
    compilerOptions { jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17) }
}

dependencies {
    implementation(project(":core"))
    implementation("org.pytorch:executorch-android:${property("executorchVersion")}")
    implementation("com.google.ai.edge.litert:litert:${property("litertVersion")}")
    implementation("com.microsoft.onnxruntime:onnxruntime-android:${property("onnxruntimeVersion")}")
    // fbjni and soloader, which the ExecuTorch AAR loads, come in through its Maven POM
}
