// edge-time Android demo: the `app` (phone UI + BenchmarkActivity for `edge-time profile --adb`)
// and `core`, the pure-Kotlin part (tokenizers, manifest, decoding, statistics) that CI compiles
// with Debian's kotlinc and tests with JUnit 4 (tests/android), with no Android SDK involved.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "edge-time-demo"
include(":core", ":app")
