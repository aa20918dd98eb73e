@testable import Drivers
import Foundation
import Reconciler
import Resources
import Testing

/// Issue 14 §1 and §6: the driver measures before it acts and verifies what it asked for.
@Suite("Cloud Hypervisor driver verifies and preflights")
struct VerifyTests {
    let journal = NoJournal()

    @Test("a resize whose memory the VM did not take fails its verify step, naming both sizes")
    func resizeVerifiesMemory() async throws {
        let host = try SimHost(environment: ["CH_SIM_RESIZE_DROPS_RAM": "1"])
        let limits = ResourceLimits(cpus: 4, memory: .gibibytes(4))
        try await host.runtime.create("web", config: host.config(memory: .gibibytes(2), cpus: 2, limits: limits), state: .running, reuseDisk: false, journal: journal)
        let error = await #expect(throws: StepFailure.self) {
            try await host.runtime.resize("web", config: host.config(memory: .gibibytes(3), cpus: 2, limits: limits), journal: journal)
        }
        #expect(error?.step == "ch.verify" && error?.message.contains("3Gi") == true && error?.message.contains("2Gi") == true, "\(String(describing: error))")
        // The record keeps what the VM really has, so the next pass asks again.
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.config.memory == .gibibytes(2))
        try await host.runtime.destroy("web", keepDisk: false, journal: journal)
    }

    @Test("preflight names a missing image, kernel and binary without touching the host")
    func preflight() throws {
        let host = try SimHost()
        #expect(host.runtime.preflight("web", config: host.config()).isEmpty)
        let missing = host.runtime.preflight("web", config: host.config(image: "nowhere"))
        #expect(missing.count == 1 && missing[0].contains("base image 'nowhere' not found") && missing[0].contains("CH_IMAGES_PATH"), "\(missing)")
        let broken = CloudHypervisor.Runtime(config: HostConfig(stateDirectory: host.root, values: ["CH_BINARY": "/nonexistent/ch", "CH_KERNEL_PATH": "/nonexistent/vmlinux"]))
        let all = broken.preflight("web", config: host.config(image: "nowhere"))
        #expect(all.count == 3 && all[0].contains("CH_BINARY") && all[1].contains("CH_KERNEL_PATH"), "\(all)")
        let long = host.runtime.preflight(String(repeating: "n", count: 120), config: host.config())
        #expect(long.count == 1 && long[0].contains("Unix sockets allow"), "\(long)")
        #expect(host.leftovers().isEmpty)
    }
}

@Suite("Host configuration paths")
struct HostConfigPathTests {
    @Test("relative paths in the host configuration are taken from the working directory once; bare names stay")
    func relativePaths() throws {
        let cwd = FileManager.default.currentDirectoryPath
        let config = try HostConfig.load(stateDirectory: "/var/lib/converge", file: nil,
                                         environment: ["QEMU_KERNEL_PATH": "guest/vmlinux", "QEMU_IMAGES_PATH": "/abs/images", "CVD_PATH": "cvd"])
        #expect(config.qemuKernel == "\(cwd)/guest/vmlinux")
        #expect(config.qemuImages == "/abs/images")
        #expect(config.values["CVD_PATH"] == "cvd")
    }
}
