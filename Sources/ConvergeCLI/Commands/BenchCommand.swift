import Drivers
import Foundation
import Glibc
import Reconciler
import Resources

/// `converge bench plan|apply`: the benchmarks of the core, printed as figures.
///
/// - `plan`: generates N sandbox specs, then times load + validate and plan (against an
///   empty host and against a host where all N already run), R rounds, median and min.
/// - `cold`: load + validate + plan of N specs written to `--keep DIR`, every file parsed
///   each round, in a process configured as a one-shot command (`ColdLoadBenchmark`).
/// - `apply`: creates N sandboxes on the simulator (timed once), then times a no-op
///   `apply` R rounds. `--keep DIR` leaves the specs and the running sandboxes in DIR so
///   the same no-op apply can be timed as a whole process from outside.
struct BenchCommand: Command {
    static let name = "bench"
    static let abstract = "run the benchmarks (scale: every scale goal in one run; plan over N specs; cold: a cold load + plan of N specs; no-op apply over N sandboxes, network slots, memory state)"
    static let arguments = "scale|plan|cold|apply|network|memory"
    static let options = [
        OptionSpec("--count", value: "N", "sandboxes (scale 1000, plan 10000, apply 200, network 50)"),
        OptionSpec("--specs", value: "N", "scale, cold: specs loaded and planned cold (default 10000)"),
        OptionSpec("--rounds", value: "R", "timed rounds (default 5)"),
        OptionSpec("--per-file", value: "K", "specs per generated file (default 100)"),
        OptionSpec("--keep", value: "DIR", "keep the specs (and apply's sandboxes) in DIR; cold: where its specs are written"),
        OptionSpec("--sim", value: "PATH", "the cloud-hypervisor simulator to use"),
        OptionSpec("--network", "apply: every sandbox in a TapPool slot (a namespace each)"),
    ]
    static let hidden = true

    var which: String
    var count: Int?
    var rounds: Int
    var perFile: Int
    var keep: String?
    var simulator: String?
    var network: Bool
    var specCount: Int
    var json: Bool

    init(parsing arguments: inout Arguments) throws {
        json = arguments.global.json
        count = try arguments.int("--count")
        rounds = max(1, try arguments.int("--rounds") ?? 5)
        perFile = max(1, try arguments.int("--per-file") ?? 100)
        keep = try arguments.value("--keep")
        simulator = try arguments.value("--sim")
        network = arguments.flag("--network")
        specCount = max(1, try arguments.int("--specs") ?? 10_000)
        which = try arguments.positionals(min: 1, max: 1, usage: Self.usage)[0]
        guard ["scale", "plan", "cold", "apply", "network", "memory"].contains(which) else { throw UsageError("usage: \(Self.usage)") }
    }

    func run() async throws {
        switch which {
        case "scale":
            let sim = simulator ?? Self.siblingSimulator()
            guard FileManager.default.isExecutableFile(atPath: sim) else {
                throw CLIError("simulator \(sim) not found; build it (swift build -c release --product cloud-hypervisor-sim) or pass --sim PATH")
            }
            try await ScaleBenchmark(count: count ?? 1000, specCount: specCount, rounds: rounds, perFile: perFile,
                                     simulator: sim, network: network, json: json).run()
        case "plan": try await planBenchmark(count ?? 10_000)
        case "cold":
            guard let keep else { throw UsageError("converge bench cold needs --keep DIR: where the specs are written") }
            let cold = ColdLoadBenchmark(specCount: specCount, perFile: perFile, rounds: rounds, directory: keep)
            try ColdLoadBenchmark.print(try cold.measure(), specCount: specCount, json: json)
        case "network": try await NetworkBenchmark(count: count ?? 50, json: json).run()
        case "memory": try await MemoryBenchmark(rounds: rounds, simulator: simulator, json: json).run()
        default: try await applyBenchmark(count ?? 200)
        }
    }

    // MARK: - plan

    private func planBenchmark(_ n: Int) async throws {
        let dir = keep ?? NSTemporaryDirectory() + "converge-bench-\(getpid())"
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        try BenchSpecs.write(count: n, perFile: perFile, to: dir)
        var load: [Double] = [], planEmpty: [Double] = [], planSteady: [Double] = []
        var actions = 0
        for _ in 0..<rounds {
            let t0 = Date()
            let specs = try SpecLoader.load(directory: dir)
            let t1 = Date()
            guard specs.isValid, specs.resources.count == n + 2 else { throw CLIError("generated specs did not validate: \(specs.diagnostics.prefix(3))") }
            let plan = Planner.plan(desired: specs.resources, observed: ObservedState(), defaults: HostDefaults())
            let t2 = Date()
            let world = BenchSpecs.converged(specs)
            let t3 = Date()
            let steady = Planner.plan(desired: specs.resources, observed: world, defaults: HostDefaults())
            let t4 = Date()
            guard steady.isEmpty else { throw CLIError("a converged world planned \(steady.actions.count) actions") }
            actions = plan.actions.count
            load.append(t1.timeIntervalSince(t0)); planEmpty.append(t2.timeIntervalSince(t1)); planSteady.append(t4.timeIntervalSince(t3))
        }
        // The first load parses every file; later ones find them unchanged (as a daemon's
        // passes do) and only read and compare them.
        let report = BenchReport(benchmark: "plan", count: n, rounds: rounds, figures: [
            .init("load + validate \(n) specs (\(n / perFile + 1) files), first load: every file parsed", [load[0]]),
            .init("load + validate again, files unchanged (the daemon's passes)", Array(load.dropFirst().isEmpty ? load : Array(load.dropFirst()))),
            .init("plan against an empty host (\(actions) actions)", planEmpty),
            .init("plan against a converged host (0 actions)", planSteady),
            .init("load + validate + plan (empty host), first load", [load[0] + planEmpty[0]]),
        ], peakRSSKiB: BenchReport.peakRSS())
        try report.print(json: json)
        if keep != nil { Output.progress("specs kept in \(dir); time a whole process with: converge plan \(dir) --state DIR") }
    }

    // MARK: - apply

    private func applyBenchmark(_ n: Int) async throws {
        let root = keep ?? "/tmp/cvg-bench-\(getpid())"
        let specsDir = "\(root)/specs", state = "\(root)/state"
        let sim = simulator ?? Self.siblingSimulator()
        guard FileManager.default.isExecutableFile(atPath: sim) else {
            throw CLIError("simulator \(sim) not found; build it (swift build --product cloud-hypervisor-sim) or pass --sim PATH")
        }
        try BenchSpecs.prepareHost(state: state, simulator: sim)
        try BenchSpecs.write(count: n, perFile: perFile, network: network, to: specsDir)
        var (wiring, options) = try BenchSpecs.wiring(state: state)
        let specs = try SpecLoader.load(directory: specsDir)
        guard specs.isValid else { throw CLIError("generated specs did not validate: \(specs.diagnostics.prefix(3).map(\.description))") }
        options.resync = 30  // as `converge apply` does by default

        let t0 = Date()
        let created = try await wiring.reconciler.apply(specs, options: options)
        let createSeconds = Date().timeIntervalSince(t0)
        guard created.converged else {
            throw CLIError("setup did not converge: \(created.failed.sorted { $0.key < $1.key }.prefix(3).map { "\($0.key): \($0.value)" })")
        }
        var noop: [Double] = [], load: [Double] = []
        var phases = PhaseSamples()
        for _ in 0..<rounds {
            let t = Date()
            let loaded = try SpecLoader.load(directory: specsDir)
            load.append(Date().timeIntervalSince(t))
            let report = try await wiring.reconciler.apply(loaded, options: options)
            noop.append(Date().timeIntervalSince(t))
            guard report.outcomes.isEmpty, report.converged else { throw CLIError("a no-op apply did \(report.outcomes.count) actions") }
            phases.add(report.phases)
        }
        let breakdown = [BenchReport.Figure("  of which: load + validate \(n) specs", load)]
            + phases.samples.map { BenchReport.Figure("  of which: \($0.phase)", $0.seconds) }
        let observeOnly = try await (0..<rounds).asyncMap { _ in
            let t = Date()
            _ = try await wiring.reconciler.observe()
            return Date().timeIntervalSince(t)
        }
        // The balloon loop: a tighter policy makes every guest's balloon grow, the default
        // one gives it all back; each is one apply of n balloon actions.
        func balloonPass(_ policy: String) async throws -> Double {
            try BenchSpecs.writeShared(policy: policy, network: network, to: specsDir)
            let t = Date()
            let report = try await wiring.reconciler.apply(try SpecLoader.load(directory: specsDir), options: options)
            let balloons = report.outcomes.filter { $0.action.verb == .balloon && $0.succeeded }.count
            guard report.converged, balloons == n else { throw CLIError("a balloon pass sized \(balloons) of \(n) balloons") }
            return Date().timeIntervalSince(t)
        }
        var inflate: [Double] = [], deflate: [Double] = []
        for _ in 0..<rounds {
            inflate.append(try await balloonPass(BenchSpecs.tightPolicy))
            deflate.append(try await balloonPass(BenchSpecs.defaultPolicy))
        }
        let report = BenchReport(benchmark: "apply", count: n, rounds: rounds, figures: [
            .init("create \(n) sandboxes from nothing (one apply)", [createSeconds]),
            .init("no-op apply over \(n) running sandboxes (load + observe + plan + record)", noop),
        ] + breakdown + [
            .init("baseline: observe \(n) sandboxes asking every VMM (pid + start time + vm.info + guest agent each)", observeOnly),
            .init("balloon pass: inflate \(n) balloons (guest agents asked, vm.resize + verify each)", inflate),
            .init("balloon pass: deflate \(n) balloons", deflate),
        ], peakRSSKiB: BenchReport.peakRSS())
        if keep == nil {
            let empty = "\(root)/empty"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
            _ = try await wiring.reconciler.apply(try SpecLoader.load(directory: empty), options: options)
            try? FileManager.default.removeItem(atPath: root)
        } else {
            Output.progress("\(n) sandboxes left running; whole-process no-op apply: converge apply \(specsDir) --state \(state); tear down: converge apply EMPTY_DIR --state \(state) --allow-empty --force")
        }
        try report.print(json: json)
    }

    static func siblingSimulator() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("cloud-hypervisor-sim").path
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// Generated inputs for the benchmarks.
enum BenchSpecs {
    static let defaultPolicy = "{interval: 30s}"
    /// Leaves 768Mi to a guest that uses 200Mi: a 1Gi guest's balloon holds 256Mi, a 2Gi one's 1280Mi.
    static let tightPolicy = "{interval: 30s, minVM: 256Mi, buffer: 512Mi}"

    /// `count` sandboxes, `perFile` documents a file, plus a pool and a policy.
    /// - Parameter network: each sandbox in a slot of the pool (without, no pool is written:
    ///   a pool named `default` would be every sandbox's).
    static func write(count: Int, perFile: Int, network: Bool = true, to dir: String) throws {
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeShared(policy: defaultPolicy, network: network, to: dir)
        for file in stride(from: 0, to: count, by: perFile) {
            var text = ""
            for i in file..<min(count, file + perFile) {
                // Separators go between documents: a trailing one would start a 101st.
                text += (i == file ? "" : "---\n") + """
                apiVersion: converge.dev/v1
                kind: Sandbox
                metadata:
                  name: sb-\(i)
                  labels: {team: t\(i % 7)}
                spec:
                  cpus: \(1 + i % 2)
                  memory: \(1 + i % 2)Gi
                  disk: 4Gi
                  limits: {cpus: 4, memory: 4Gi}
                  source: {image: bench-base}
                \(network ? "  network: {pool: default}\n" : "")  balloon: {policy: default}

                """
            }
            try text.write(toFile: "\(dir)/sandboxes-\(file / perFile).yaml", atomically: true, encoding: .utf8)
        }
    }

    /// The pool and the policy every generated sandbox names.
    static func writeShared(policy: String, network: Bool = true, to dir: String) throws {
        let pool = network ? """
        apiVersion: converge.dev/v1
        kind: TapPool
        metadata: {name: default}
        spec: {size: 4, subnet: 10.128.0.0/10, guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}}
        ---

        """ : ""
        try (pool + """
        apiVersion: converge.dev/v1
        kind: BalloonPolicy
        metadata: {name: default}
        spec: \(policy)

        """).write(toFile: "\(dir)/shared.yaml", atomically: true, encoding: .utf8)
    }

    /// The world after a successful apply of `specs`.
    static func converged(_ specs: SpecSet) -> ObservedState {
        var world = ObservedState()
        for resource in specs.resources.values {
            switch resource.body {
            case .sandbox(let s):
                world.sandboxes[resource.name] = ObservedSandbox(name: resource.name, config: SandboxConfig(resolving: s, defaults: HostDefaults()),
                                                                 intendedState: s.state, vm: .running, process: ProcessIdentity(pid: 1, startTime: 1))
            case .tapPool(let p): world.pools[resource.name] = ObservedPool(spec: p, ready: p.size)
            case .balloonPolicy: world.policies[resource.name] = AppliedRecord(body: resource.body)
            case .snapshot: break
            }
        }
        return world
    }

    /// The reconciler of a benchmark's state directory, and apply options that may create
    /// and remove everything (the benchmark owns the directory).
    /// - Parameter daemon: wired as `converge run` is (see `Wiring.init`).
    static func wiring(state: String, daemon: Bool = false) throws -> (Wiring, ApplyOptions) {
        var global = GlobalOptions()
        global.stateDirectory = state
        var options = ApplyOptions()
        options.plan.force = true
        options.allowEmpty = true
        return (try Wiring(global, daemon: daemon), options)
    }

    static func prepareHost(state: String, simulator: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(state)/ch/kernels", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(state)/ch/images", withIntermediateDirectories: true)
        try Data("placeholder kernel".utf8).write(to: URL(fileURLWithPath: "\(state)/ch/kernels/vmlinux"))
        // A prefix of its own: the default one may belong to another state directory here.
        try "CH_BINARY: \(simulator)\nCONVERGE_NET_PREFIX: cvbn\n".write(toFile: "\(state)/config.yaml", atomically: true, encoding: .utf8)
        let image = "\(state)/ch/images/bench-base.qcow2"
        if !fm.fileExists(atPath: image) {
            let result = try Spawn.runToCompletion([Executables.find("qemu-img") ?? "/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", image, "1G"])
            guard result.status == 0 else { throw CLIError("qemu-img create \(image) failed") }
        }
    }
}

/// Each phase's seconds over several passes, in the order the passes ran the phases.
struct PhaseSamples {
    private(set) var samples: [(phase: String, seconds: [Double])] = []

    mutating func add(_ times: PhaseTimes) {
        for (phase, seconds) in times.seconds {
            if let i = samples.firstIndex(where: { $0.phase == phase }) { samples[i].seconds.append(seconds) } else { samples.append((phase, [seconds])) }
        }
    }
}

/// Benchmark figures: each as min / median / max over its rounds, and peak RSS.
struct BenchReport: Encodable {
    struct Figure: Encodable {
        var name: String
        var seconds: [Double]
        var medianMilliseconds: Double
        var minMilliseconds: Double
        var maxMilliseconds: Double

        init(_ name: String, _ seconds: [Double]) {
            self.name = name
            self.seconds = seconds
            let sorted = seconds.sorted()
            medianMilliseconds = sorted[sorted.count / 2] * 1000
            minMilliseconds = sorted.first! * 1000
            maxMilliseconds = sorted.last! * 1000
        }
    }

    var benchmark: String
    var count: Int
    var rounds: Int
    var figures: [Figure]
    var peakRSSKiB: Int
    /// Overhead goals, for benchmarks that compare Converge with the same work done by hand.
    var goals: [Goal]?

    /// Converge's own overhead on one operation: its median less the by-hand median.
    struct Goal: Encodable {
        var operation: String
        var byHandMilliseconds: Double
        var convergeMilliseconds: Double
        /// The whole in-process apply around the action (observe, plan, record, re-observe).
        var applyMilliseconds: Double
        var overheadMilliseconds: Double
        var applyOverheadMilliseconds: Double
        var goalMilliseconds: Double
        var met: Bool

        init(operation: String, byHandMilliseconds: Double, convergeMilliseconds: Double, applyMilliseconds: Double, goalMilliseconds: Double) {
            self.operation = operation
            self.byHandMilliseconds = byHandMilliseconds
            self.convergeMilliseconds = convergeMilliseconds
            self.applyMilliseconds = applyMilliseconds
            overheadMilliseconds = convergeMilliseconds - byHandMilliseconds
            applyOverheadMilliseconds = applyMilliseconds - byHandMilliseconds
            self.goalMilliseconds = goalMilliseconds
            met = overheadMilliseconds < goalMilliseconds
        }
    }

    static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    func print(json: Bool) throws {
        if json { try Output.json(self); return }
        Swift.print("benchmark \(benchmark), N = \(count), \(rounds) round\(rounds == 1 ? "" : "s"), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        for f in figures {
            let label = f.name.padding(toLength: max(f.name.count, 78), withPad: " ", startingAt: 0)
            Swift.print("  \(label) median \(String(format: "%8.1f", f.medianMilliseconds)) ms  (min \(String(format: "%.1f", f.minMilliseconds)), max \(String(format: "%.1f", f.maxMilliseconds)))")
        }
        Swift.print("  peak RSS of this process: \(peakRSSKiB / 1024) MiB")
        guard let goals else { return }
        Swift.print("overhead (Converge's action median - by-hand median; the whole apply's in brackets):")
        for g in goals {
            let label = g.operation.padding(toLength: max(g.operation.count, 48), withPad: " ", startingAt: 0)
            Swift.print("  \(label) by hand \(String(format: "%7.1f", g.byHandMilliseconds)) ms, Converge \(String(format: "%7.1f", g.convergeMilliseconds)) ms: overhead \(String(format: "%6.1f", g.overheadMilliseconds)) ms [apply \(String(format: "%6.1f", g.applyOverheadMilliseconds))], goal < \(Int(g.goalMilliseconds)) ms: \(g.met ? "met" : "MISSED")")
        }
    }
}
