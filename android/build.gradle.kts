// The Android library module for real users: the shell (android/src/main), the generated
// uniffi Kotlin, and the Rust library built with cargo-ndk into src/main/jniLibs.
// NOT built or run in this repository's CI: there is no Android SDK, NDK or Gradle here.
// What is verified here: tests/android compiles these sources against android-all (API 34).
plugins {
    id("com.android.library") version "8.7.3"
    kotlin("android") version "2.1.0"
}

android {
    namespace = "app.contactsagent.android"
    compileSdk = 34
    defaultConfig {
        minSdk = 26 // java.util.Base64, JobScheduler persisted jobs
    }
    sourceSets["main"].kotlin.srcDirs("src/main/kotlin", "../target/uniffi-kotlin")
    sourceSets["main"].jniLibs.srcDirs("src/main/jniLibs")
}

dependencies {
    implementation("net.java.dev.jna:jna:5.19.1@aar")
}

// cargo-ndk: one .so per ABI into src/main/jniLibs (see README "Building for Android").
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = rootDir.resolve("..")
    commandLine(
        "cargo", "ndk", "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "-o", "android/src/main/jniLibs", "build", "--release", "--lib", "--no-default-features",
    )
}
tasks.named("preBuild") { dependsOn(cargoNdk) }
