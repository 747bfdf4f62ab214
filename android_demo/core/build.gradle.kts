// Pure Kotlin/JVM: no Android dependency, stdlib only, so the same sources also compile with
// Debian's kotlinc 1.3.31 (tests/android/test_core_kotlin.py). Keep them free of newer language
// features (no `fun interface`, sealed interfaces, value classes, trailing commas, buildList...).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // the Python-generated vectors: ./gradlew :core:test -PedgetimeVectors=/path/from/tests/android
    (findProperty("edgetimeVectors") as String?)?.let { systemProperty("edgetime.vectors", it) }
}
