// The Android build: the SDK library (this folder's build.gradle.kts, the root project) and
// the example app (example/). Not run in this repository's CI: there is no Android SDK, NDK
// or Gradle here (see docs/android.md, "What was and was not built here").
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

rootProject.name = "contacts-agent-android"
include(":example")
