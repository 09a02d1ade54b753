package app.contactsagent.testing

import org.junit.runners.model.FrameworkMethod
import org.robolectric.RobolectricTestRunner
import org.robolectric.internal.bytecode.InstrumentationConfiguration

/**
 * Robolectric's runner with one change: the SDK package (the generated uniffi API, JniBridge,
 * ContactStoreBridge, ReferenceServer) is loaded by the ordinary class loader, not by the
 * sandbox's. A JVM binds a native library to the class loader that loaded it, and JniBridge
 * loads libcontacts_agent.so: left to the sandbox, a second sandbox (another SDK or config)
 * could never load it again. Those classes use no Android API, so nothing needs the sandbox's
 * copy of them. Every Robolectric test here uses this runner, so they all share one sandbox.
 */
class ShellTestRunner(testClass: Class<*>) : RobolectricTestRunner(testClass) {
    override fun createClassLoaderConfig(method: FrameworkMethod): InstrumentationConfiguration =
        InstrumentationConfiguration.Builder(super.createClassLoaderConfig(method))
            .doNotAcquirePackage("app.contactsagent.sdk")
            .build()
}
