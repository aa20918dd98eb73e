import Foundation
import Glibc
import Reconciler
import Resources
import Testing
@testable import Drivers

/// The guest's memory through CH's hybrid vsock and the guest agent, and the balloon
/// through vm.resize, against the simulator (docs/guest-agent.md).
@Suite("Cloud Hypervisor balloons against the simulator", .serialized)
struct BalloonDriverTests {
    let journal = NoJournal()

    func sandbox(_ host: SimHost, policy: String? = "p", state: PowerState = .running) async throws -> ObservedSandbox {
        try await host.runtime.create("web", config: host.config(memory: .gibibytes(4), balloonPolicy: policy), state: state,
                                      reuseDisk: false, journal: journal)
        return try #require(try await host.runtime.observe().first)
    }

    @Test("the guest's own use comes from its agent; the balloon's pages are not counted as used")
    func guestMemory() async throws {
        let host = try SimHost()
        let before = try #require(try await sandbox(host).balloon)
        #expect(before.allocated == .gibibytes(4) && before.size == Quantity(bytes: 0))
        #expect(before.guestUsed == .mebibytes(200), "the simulator's guest uses 200Mi by default: \(before)")
        // Its MemTotal: 4Gi less the kernel's reserve (RAM/64 in the simulator's guest).
        #expect(before.guestCapacity == .mebibytes(4096 - 64))
        #expect(before.unavailable == nil)

        try await host.runtime.setBalloon("web", to: .gibibytes(3), journal: journal)
        let after = try #require(try await host.runtime.observe().first?.balloon)
        #expect(after.size == .gibibytes(3) && after.guestUsed == .mebibytes(200))
        let info = try await CloudHypervisor.Client(socketPath: host.runtime.layout.socket("web")).info()
        #expect(info.memory_actual_size == 1 << 30 && info.config.balloon?.size == 3 << 30)

        // The guest starts using more: the next observation sees it.
        try "\(512 << 20)\n".write(toFile: host.runtime.layout.socket("web") + ".guest-used", atomically: true, encoding: .utf8)
        #expect(try await host.runtime.observe().first?.balloon?.guestUsed == .mebibytes(512))

        try await host.runtime.setBalloon("web", to: Quantity(bytes: 0), journal: journal)
        #expect(try await host.runtime.observe().first?.balloon?.size == Quantity(bytes: 0))
    }

    @Test("a guest's figures read the same whether or not its balloon driver keeps ballooned pages in MemTotal")
    func accounting() {
        let gib: Int64 = 1 << 30, mib: Int64 = 1 << 20
        // Deflate-on-OOM: MemTotal stays, the balloon's 2Gi look allocated.
        let kept = GuestMemoryView(memory: .init(total: 4 * gib - 64 * mib, available: 4 * gib - 64 * mib - 2 * gib - 300 * mib),
                                                   allocated: 4 * gib, balloon: 2 * gib)
        #expect(kept.used == 300 * mib && kept.capacity == 4 * gib - 64 * mib)
        // Without it: the balloon's 2Gi left MemTotal.
        let dropped = GuestMemoryView(memory: .init(total: 2 * gib - 64 * mib, available: 2 * gib - 64 * mib - 300 * mib),
                                                      allocated: 4 * gib, balloon: 2 * gib)
        #expect(dropped.used == 300 * mib && dropped.capacity == 4 * gib - 64 * mib)
    }

    @Test("memory is never unplugged under an inflated balloon: the balloon is given back first")
    func shrinkUnderBalloon() async throws {
        let host = try SimHost()
        let limits = ResourceLimits(cpus: 2, memory: .gibibytes(6))
        try await host.runtime.create("web", config: host.config(memory: .gibibytes(2), limits: limits, balloonPolicy: "p"), state: .running,
                                      reuseDisk: false, journal: journal)
        try await host.runtime.resize("web", config: host.config(memory: .gibibytes(4), limits: limits, balloonPolicy: "p"), journal: journal)
        try await host.runtime.setBalloon("web", to: .gibibytes(3), journal: journal)
        try await host.runtime.resize("web", config: host.config(memory: .gibibytes(2), limits: limits, balloonPolicy: "p"), journal: journal)
        let info = try await CloudHypervisor.Client(socketPath: host.runtime.layout.socket("web")).info()
        #expect(info.config.balloon?.size == 0 && info.memory_actual_size == 2 << 30)
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.vm == .running && observed.balloon?.size == Quantity(bytes: 0) && observed.liveMemory == .gibibytes(2))
    }

    @Test("a guest without an agent is reported, not an error; a paused guest and a sandbox without a policy are not asked")
    func silentGuests() async throws {
        let host = try SimHost(environment: ["CH_SIM_GUEST_AGENT": "0"])
        let silent = try #require(try await sandbox(host).balloon)
        #expect(silent.guestUsed == nil)
        #expect(silent.unavailable?.contains("vsock port 2280") == true, "\(silent)")

        let paused = try SimHost()
        let p = try #require(try await sandbox(paused, state: .paused).balloon)
        #expect(p.guestUsed == nil && p.unavailable == nil)

        let unmanaged = try SimHost()
        let u = try #require(try await sandbox(unmanaged, policy: nil).balloon)
        #expect(u.guestUsed == nil && u.unavailable == nil)
    }

    @Test("a stale vsock socket left by a killed VMM does not stop the next boot; destroy removes it")
    func staleSocket() async throws {
        let host = try SimHost()
        let observed = try await sandbox(host)
        let process = try #require(observed.process)
        kill(process.pid, SIGKILL)
        try #require(try await waitUntilGone(process), "VMM \(process.pid) survived SIGKILL")
        #expect(FileManager.default.fileExists(atPath: host.runtime.layout.vsock("web")))
        try await host.runtime.transition("web", to: .running, journal: journal)
        #expect(try await host.runtime.observe().first?.balloon?.guestUsed == .mebibytes(200))
        try await host.runtime.destroy("web", keepDisk: false, journal: journal)
        #expect(host.leftovers().isEmpty, "\(host.leftovers())")
    }
}
