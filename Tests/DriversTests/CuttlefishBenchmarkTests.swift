@testable import Drivers
import Foundation
import Glibc
import Reconciler
import Resources
import Testing

/// Converge's own cost around cvd, against the simulator (Tools/cuttlefish-sim): time in
/// cvd and adb is measured and taken out of each operation.
@Suite("Cuttlefish overhead", .serialized)
struct CuttlefishBenchmarkTests {
    struct Journal: StepJournal {
        func step<T: Sendable>(_ name: JournalStep, isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T { try await body() }
    }

    static let sim = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tools/cuttlefish-sim").path

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    @Test("own overhead per create and destroy; a no-op observation of 100 devices against one fleet and one adb call per device")
    func overhead() async throws {
        let root = "/tmp/cvg-cfb-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: "\(root)/state/cuttlefish/artifacts/android", withIntermediateDirectories: true)
        defer {
            // Whatever a failed run left: the simulator's devices, by pid, then the files.
            for id in 1...128 { for p in Cuttlefish.HostFiles(tmp: "\(root)/tmp", locks: "").crosvms(of: id) { kill(p.pid, SIGKILL) } }
            try? FileManager.default.removeItem(atPath: root)
        }
        let config = HostConfig(stateDirectory: "\(root)/state", values: [
            "CVD_PATH": "\(Self.sim)/cvd", "CVD_ADB_PATH": "\(Self.sim)/adb", "CVD_TMP_PATH": "\(root)/tmp",
            "CVD_LOCK_PATH": "\(root)/var/tmp/cvd/lock", "CVD_MAX_INSTANCES": "128",
        ])
        var runtime = try Cuttlefish.Runtime(config: config)
        runtime.vmm.tools.environment = ["CVD_SIM_ROOT": root, "CVD_SIM_NUM_CVD_ACCOUNTS": "128"]
        let shape = SandboxConfig(resolving: SandboxSpec(runtime: .cuttlefish, cpus: 1, memory: .gibibytes(2), disk: .gibibytes(1),
                                                         source: .image("android")), defaults: try config.defaults())
        let clock = Cuttlefish.Tools.clock
        let run = runtime

        func measured(_ body: () async throws -> Void) async throws -> (wall: Double, tools: Double, calls: Int) {
            let (t0, c0, n0) = (Date(), clock.seconds, clock.calls)
            try await body()
            return (Date().timeIntervalSince(t0), clock.seconds - c0, clock.calls - n0)
        }

        // Create and destroy, one at a time.
        var creates: [(wall: Double, tools: Double, calls: Int)] = [], destroys: [(wall: Double, tools: Double, calls: Int)] = []
        for i in 0..<5 {
            creates.append(try await measured { try await run.create("b\(i)", config: shape, state: .running, reuseDisk: false, journal: Journal()) })
        }
        for i in 0..<5 {
            destroys.append(try await measured { try await run.destroy("b\(i)", keepDisk: false, journal: Journal()) })
        }

        // 100 devices, 8 launches at a time.
        let names = (0..<100).map { "d\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            for _ in 0..<8 {
                let name = names[next]; next += 1
                group.addTask { try await run.create(name, config: shape, state: .running, reuseDisk: false, journal: Journal()) }
            }
            while try await group.next() != nil, next < names.count {
                let name = names[next]; next += 1
                group.addTask { try await run.create(name, config: shape, state: .running, reuseDisk: false, journal: Journal()) }
            }
        }
        var passes: [(wall: Double, tools: Double, calls: Int)] = []
        var observed: [ObservedSandbox] = []
        for _ in 0..<3 { passes.append(try await measured { observed = try await run.observe() }) }
        #expect(observed.count == 100 && observed.allSatisfy { $0.vm == .running && $0.device != nil })

        // The naive baseline, in the same run: one `cvd fleet` and one adb call per device.
        let tools = run.vmm.tools
        var baselines: [Double] = []
        for _ in 0..<1 {  // ~70 s a round on the simulator: once is enough to compare
            let t0 = Date()
            for sandbox in observed {
                _ = try await tools.fleet()
                _ = await tools.bootCompleted(sandbox.device!.serial, timeout: 5)
            }
            baselines.append(Date().timeIntervalSince(t0))
        }

        let ms = { (x: Double) in String(format: "%.1f ms", x * 1000) }
        print("""
            cuttlefish create: wall \(ms(median(creates.map(\.wall)))), in cvd/adb \(ms(median(creates.map(\.tools)))) (\(creates[0].calls) calls), Converge's own \(ms(median(creates.map { $0.wall - $0.tools })))
            cuttlefish destroy: wall \(ms(median(destroys.map(\.wall)))), in cvd/adb \(ms(median(destroys.map(\.tools)))) (\(destroys[0].calls) calls), Converge's own \(ms(median(destroys.map { $0.wall - $0.tools })))
            no-op observation of 100 devices: \(ms(median(passes.map(\.wall)))) (\(passes[0].calls) tool calls; Converge's own \(ms(median(passes.map { $0.wall - $0.tools }))))
            naive baseline (cvd fleet + adb per device): \(ms(median(baselines))) (200 tool calls)
            """)
        #expect(median(passes.map(\.wall)) < median(baselines))

        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: names.count, by: 12) {
                let part = Array(names[chunk..<min(chunk + 12, names.count)])
                group.addTask { for name in part { try await run.destroy(name, keepDisk: false, journal: Journal()) } }
            }
            try await group.waitForAll()
        }
        #expect(try await tools.fleet().groups.isEmpty)
    }
}
