// The SDK as an Android library (AAR): the shell (src/main), the SDK's Kotlin API, the
// generated uniffi Kotlin, and the Rust library built with cargo-ndk into src/main/jniLibs.
// NOT built or run in this repository's CI: there is no Android SDK, NDK or Gradle here.
// What is verified here: tests/android compiles these sources against android-all (API 34);
// tests/jvm runs the SDK's Kotlin through ProGuard with consumer-rules.pro, then tests it.
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
    `maven-publish`
}

group = "app.contactsagent"
version = "0.1.0" // Cargo.toml's version: the .so and the bindings ship together

android {
    namespace = "app.contactsagent.android"
    compileSdk = 34
    defaultConfig {
        minSdk = 26 // java.util.Base64, JobScheduler persisted jobs
        // Shipped inside the AAR: an app's R8 keeps what JNA and the JNI bridge need.
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].kotlin.srcDirs("src/main/kotlin", "../target/uniffi-kotlin")
    sourceSets["main"].jniLibs.srcDirs("src/main/jniLibs")
    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // api: the generated bindings expose JNA types, ContactsAgent exposes Flow and suspend.
    api(libs.jna) { artifact { type = "aar" } }
    api(libs.kotlinx.coroutines.android)
}

// cargo-ndk: one .so per ABI into src/main/jniLibs, then the Kotlin bindings from the UDL
// (see docs/android.md "Building the AAR").
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = rootDir.resolve("..")
    commandLine(
        "cargo", "ndk", "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "-o", "android/src/main/jniLibs", "build", "--release", "--lib", "--no-default-features",
    )
}
val uniffiBindings by tasks.registering(Exec::class) {
    workingDir = rootDir.resolve("..")
    commandLine(
        "cargo", "run", "--features", "bindgen", "--bin", "uniffi-bindgen", "--",
        "generate", "uniffi/contacts_agent.udl", "--language", "kotlin", "--out-dir", "target/uniffi-kotlin",
    )
}
tasks.named("preBuild") { dependsOn(cargoNdk, uniffiBindings) }

// ./gradlew publishToMavenLocal (or a repository of your own): app.contactsagent:contacts-agent-android:0.1.0,
// an AAR whose POM names JNA as an @aar dependency and kotlinx-coroutines-android.
publishing {
    publications {
        register<MavenPublication>("release") {
            artifactId = "contacts-agent-android"
            afterEvaluate { from(components["release"]) }
            pom {
                name.set("contacts-agent for Android")
                description.set("Keeps a company address book on managed Android phones")
                licenses {
                    license { name.set("Apache-2.0") }
                }
            }
        }
    }
}
