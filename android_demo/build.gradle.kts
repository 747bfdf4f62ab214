// Versions in one place (see docs/android.md for why each): AGP 8.10.1 (Gradle >= 8.11.1),
// Kotlin 2.1.21, JDK 17.
plugins {
    id("com.android.application") version "8.10.1" apply false
    id("org.jetbrains.kotlin.android") version "2.1.21" apply false
    id("org.jetbrains.kotlin.jvm") version "2.1.21" apply false
}
