import Drivers
import Foundation
import Glibc
import Reconciler
import Resources

/// `converge bench memory`: Converge's own overhead on memory state (suspend, resume from
/// suspend, restore from a warm snapshot, live fork), against the same VMM calls made by
/// hand, in one run on the Cloud Hypervisor simulator, R rounds interleaved so the host's
/// noise falls on both alike.
///
/// - By hand: `CloudHypervisor.Client` calls and the simulator's process, nothing else —
///   suspend = pause, vm.snapshot, vm.shutdown, vm.delete, vmm.shutdown, exit; resume and
///   restore = spawn, answer on the socket, vm.restore (on demand), vm.resume; fork = the
///   parent's suspend, then the child's and the parent's restore and resume. The readiness
///   poll is 1 ms and the exit is waited for with waitpid. Files a VMM needs but does no
///   work for (a clone's config.json pointed at its own disk) are prepared outside the clock.
/// - Converge: one `Reconciler.apply` that performs exactly that operation. Its *action*
///   time is the apply's outcome seconds; its *apply* time adds the pass around it (observe
///   every sandbox, plan, record, observe and plan again until empty).
///
/// Converge's overhead = median action − median by hand. It is everything Converge does
/// besides the VMM's own work: the sandbox records (written atomically, several per
/// action), the journal rows (an intent and an outcome per step, in SQLite), the state
/// checks before and after (pid + start time + vm.info: `liveState`, `ch.verify`), the
/// restore directory (config.json rewritten, links), qemu-img for a fork's disk (freeze:
/// link + `qemu-img info` + overlay + rename; the child's overlay) and a restore's overlay,
/// a slot claim when the sandbox has a pool (none here), and its own spawn and exit waits
/// (10 ms polls). The per-step medians from the journal show where it goes.
struct MemoryBenchmark {
    let rounds: Int
    let simulator: String?
    let json: Bool

    /// Goals of the memory-state issue: Converge's own overhead per operation.
    static let goals: [String: Double] = ["suspend": 20, "resume": 20, "restore": 20, "fork": 30]
    static let operations = ["suspend", "resume", "restore", "fork"]
    /// The VMM's own steps in the journal; every other step is Converge's.
    static let vmmSteps: Set<String> = ["ch.spawn", "ch.vm.restore", "ch.vm.snapshot", "ch.vmm.stop", "ch.vm.pause", "ch.vm.resume"]

    func run() async throws {
        let root = "/tmp/cvg-benchmem-\(getpid())"
        let specs = "\(root)/specs", state = "\(root)/state", empty = "\(root)/empty"
        let sim = simulator ?? BenchCommand.siblingSimulator()
        guard FileManager.default.isExecutableFile(atPath: sim) else {
            throw CLIError("simulator \(sim) not found; build it (swift build --product cloud-hypervisor-sim) or pass --sim PATH")
        }
        try BenchSpecs.prepareHost(state: state, simulator: sim)
        for dir in [specs, empty] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let (wiring, options) = try BenchSpecs.wiring(state: state)
        let hand = HandDriver(simulator: sim, directory: "\(root)/hand")
        var vms: [HandVM] = []
        defer {
            for vm in vms { hand.kill(vm) }
            try? FileManager.default.removeItem(atPath: root)
        }
        do {
            try await measure(wiring: wiring, options: options, specs: specs, hand: hand, vms: &vms)
        } catch {
            _ = try? await wiring.reconciler.apply(try SpecLoader.load(directory: empty), options: options)
            throw error
        }
        _ = try await wiring.reconciler.apply(try SpecLoader.load(directory: empty), options: options)
    }

    private func measure(wiring: Wiring, options: ApplyOptions, specs: String, hand: HandDriver, vms: inout [HandVM]) async throws {
        // Converge: origin (captured as the warm snapshot), parent (forked), sleeper (suspended).
        try Self.write(sleeper: .running, to: specs)
        let setup = try await wiring.reconciler.apply(try SpecLoader.load(directory: specs), options: options)
        guard setup.converged, setup.failed.isEmpty else { throw CLIError("setup did not converge: \(setup.failed.prefix(3))") }
        let warm = "\(wiring.host.chSnapshots)/warm"

        // By hand: A (suspended and resumed), P (forked into C), R (restored); each from
        // the same warm snapshot, pointed at its own disk.
        let a = try hand.make("a"), p = try hand.make("p"), c = try hand.make("c"), r = try hand.make("r")
        vms = [a, p, c, r]
        for vm in [a, p, r] { try hand.retarget(warm, into: vm.restore, for: vm) }
        try await hand.start(a, from: a.restore)
        try await hand.start(p, from: p.restore)

        var byHand: [String: [Double]] = [:], action: [String: [Double]] = [:], apply: [String: [Double]] = [:]
        var steps: [String: [String: [Double]]] = [:]  // operation → step → seconds per round
        func converge(_ operation: String, _ target: String) async throws {
            let desired = try SpecLoader.load(directory: specs)
            let since = Clock.now
            let t = Self.monotonic()
            let report = try await wiring.reconciler.apply(desired, options: options)
            let whole = Self.monotonic() - t
            let outcomes = report.outcomes.filter { $0.action.id.name == target }
            guard report.converged, report.failed.isEmpty, !outcomes.isEmpty else {
                throw CLIError("\(operation): the apply did not converge through an action on \(target): \(report.failed.prefix(3))")
            }
            action[operation, default: []].append(outcomes.map(\.seconds).reduce(0, +))
            apply[operation, default: []].append(whole)
            var perStep: [String: Double] = [:]
            for row in try await wiring.store.journalTimings(since: since) { perStep[row.step, default: 0] += row.seconds }
            let journaled = perStep.values.reduce(0, +)
            perStep["(not journaled: state checks, record reads)"] = max(0, outcomes.map(\.seconds).reduce(0, +) - journaled)
            for (step, seconds) in perStep { steps[operation, default: [:]][step, default: []].append(seconds) }
        }
        func untimed(_ what: String) async throws {
            let report = try await wiring.reconciler.apply(try SpecLoader.load(directory: specs), options: options)
            guard report.converged, report.failed.isEmpty else { throw CLIError("\(what) did not converge: \(report.failed.prefix(3))") }
        }

        for round in 0..<rounds {
            let handFirst = round % 2 == 0
            // Suspend, then resume from suspend.
            for first in [handFirst, !handFirst] {
                if first {
                    byHand["suspend", default: []].append(try await hand.suspend(a))
                } else {
                    try Self.write(sleeper: .suspended, to: specs)
                    try await converge("suspend", "sleeper")
                }
            }
            for first in [handFirst, !handFirst] {
                if first {
                    byHand["resume", default: []].append(try await hand.resume(a))
                } else {
                    try Self.write(sleeper: .running, to: specs)
                    try await converge("resume", "sleeper")
                }
            }
            // Restore from the warm snapshot (torn down outside the clock).
            for first in [handFirst, !handFirst] {
                if first {
                    byHand["restore", default: []].append(try await hand.restore(r))
                    try await hand.stop(r)
                } else {
                    try Self.write(extra: "restored", source: "{snapshot: warm}", to: specs)
                    try await converge("restore", "restored")
                    try FileManager.default.removeItem(atPath: "\(specs)/restored.yaml")
                    try await untimed("removing the restored sandbox")
                }
            }
            // Live fork of a running parent (the child torn down outside the clock).
            for first in [handFirst, !handFirst] {
                if first {
                    byHand["fork", default: []].append(try await hand.fork(p, into: c))
                    try await hand.stop(c)
                } else {
                    try Self.write(extra: "forked", source: "{fork: parent}", to: specs)
                    try await converge("fork", "forked")
                    try FileManager.default.removeItem(atPath: "\(specs)/forked.yaml")
                    try await untimed("removing the fork")
                }
            }
        }

        let labels = [
            "suspend": ("suspend a running sandbox", "pause, vm.snapshot, shutdown, delete, vmm.shutdown, exit"),
            "resume": ("resume from suspend (back to running)", "spawn, vm.restore, vm.resume"),
            "restore": ("restore from a warm snapshot to running", "spawn, vm.restore, vm.resume"),
            "fork": ("live fork of a running sandbox (both running)", "parent's suspend; child's and parent's spawn, restore, resume"),
        ]
        var figures: [BenchReport.Figure] = []
        var goals: [BenchReport.Goal] = []
        for op in Self.operations {
            let (what, calls) = labels[op]!
            let handFigure = BenchReport.Figure("\(op): by hand (\(calls))", byHand[op]!)
            let actionFigure = BenchReport.Figure("\(op): Converge, the action (outcome seconds)", action[op]!)
            let applyFigure = BenchReport.Figure("\(op): Converge, the whole in-process apply", apply[op]!)
            figures += [handFigure, actionFigure, applyFigure]
            // The action's journaled steps, largest first: Converge's own, then the VMM calls
            // as Converge makes them (their excess over the by-hand figure is Converge's too:
            // its spawn and exit waits poll every 10 ms).
            let breakdown = steps[op]!.map { step, seconds in
                BenchReport.Figure("\(op):   \(Self.vmmSteps.contains(step) ? "VMM" : "own") step \(step)",
                                   seconds + Array(repeating: 0, count: max(0, rounds - seconds.count)))
            }
            let own = breakdown.filter { !$0.name.contains(" VMM step ") }, vmm = breakdown.filter { $0.name.contains(" VMM step ") }
            figures += own.sorted { $0.medianMilliseconds > $1.medianMilliseconds } + vmm.sorted { $0.medianMilliseconds > $1.medianMilliseconds }
            goals.append(BenchReport.Goal(operation: what, byHandMilliseconds: handFigure.medianMilliseconds,
                                          convergeMilliseconds: actionFigure.medianMilliseconds,
                                          applyMilliseconds: applyFigure.medianMilliseconds, goalMilliseconds: Self.goals[op]!))
        }
        var report = BenchReport(benchmark: "memory", count: 1, rounds: rounds, figures: figures, peakRSSKiB: BenchReport.peakRSS())
        report.goals = goals
        try report.print(json: json)
    }

    // MARK: - Specs

    static func write(sleeper: PowerState, to dir: String) throws {
        var text = ""
        for (name, state) in [("origin", PowerState.running), ("parent", .running), ("sleeper", sleeper)] {
            text += """
            apiVersion: converge.dev/v1
            kind: Sandbox
            metadata: {name: \(name)}
            spec: {cpus: 1, memory: 1Gi, disk: 4Gi, state: \(state.rawValue), source: {image: bench-base}}
            ---

            """
        }
        text += """
        apiVersion: converge.dev/v1
        kind: Snapshot
        metadata: {name: warm}
        spec: {source: {sandbox: origin}, memory: true}

        """
        try text.write(toFile: "\(dir)/base.yaml", atomically: true, encoding: .utf8)
    }

    static func write(extra name: String, source: String, to dir: String) throws {
        try """
        apiVersion: converge.dev/v1
        kind: Sandbox
        metadata: {name: \(name)}
        spec: {disk: 4Gi, source: \(source)}

        """.write(toFile: "\(dir)/\(name).yaml", atomically: true, encoding: .utf8)
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

// MARK: - By hand

/// One simulator driven by hand, its files in one directory outside Converge's layout.
struct HandVM {
    let directory: String
    var socket: String { "\(directory)/api.sock" }
    var vsock: String { "\(directory)/vsock.sock" }
    var disk: String { "\(directory)/disk.img" }
    var memory: String { "\(directory)/memory" }
    var restore: String { "\(directory)/restore" }
    var pidFile: String { "\(directory)/pid" }
    var client: CloudHypervisor.Client { CloudHypervisor.Client(socketPath: socket, timeout: 10) }
}

/// The VMM calls Converge makes, made directly: each timed operation returns its seconds.
struct HandDriver {
    let simulator: String
    let directory: String

    func make(_ name: String) throws -> HandVM {
        let vm = HandVM(directory: "\(directory)/\(name)")
        try FileManager.default.createDirectory(atPath: vm.directory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: vm.disk, contents: nil) else { throw CLIError("cannot create \(vm.disk)") }
        return vm
    }

    /// A copy of `source`'s config.json pointed at `vm`'s disk, serial log and vsock socket,
    /// beside links to the rest (what a clone of someone else's state needs; untimed).
    func retarget(_ source: String, into target: String, for vm: HandVM) throws {
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        guard let data = FileManager.default.contents(atPath: "\(source)/config.json"),
              var config = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError("\(source)/config.json is missing or not a JSON object")
        }
        if var disks = config["disks"] as? [[String: Any]], !disks.isEmpty { disks[0]["path"] = vm.disk; config["disks"] = disks }
        if var serial = config["serial"] as? [String: Any] { serial["file"] = "\(vm.directory)/serial.log"; config["serial"] = serial }
        if var vsock = config["vsock"] as? [String: Any] { vsock["socket"] = vm.vsock; config["vsock"] = vsock }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(target)/config.json"))
        for file in ["state.json", "memory-ranges"] {
            guard symlink("\(source)/\(file)", "\(target)/\(file)") == 0 else { throw CLIError("symlink \(source)/\(file): errno \(errno)") }
        }
    }

    /// Untimed: a running VM restored from `directory`.
    func start(_ vm: HandVM, from directory: String) async throws {
        _ = try await restore(vm, from: directory)
    }

    /// Spawn, answer, vm.restore, vm.resume.
    func restore(_ vm: HandVM, from directory: String? = nil) async throws -> Double {
        let t = MemoryBenchmark.monotonic()
        try await spawn(vm)
        try await vm.client.restore(from: directory ?? vm.restore, onDemand: true, timeout: 60)
        try await vm.client.resume()
        return MemoryBenchmark.monotonic() - t
    }

    /// Back from its own saved memory.
    func resume(_ vm: HandVM) async throws -> Double { try await restore(vm, from: vm.memory) }

    /// Pause, vm.snapshot into its memory directory, stop.
    func suspend(_ vm: HandVM) async throws -> Double {
        try FileManager.default.createDirectory(atPath: vm.memory, withIntermediateDirectories: true)
        let t = MemoryBenchmark.monotonic()
        try await vm.client.pause()
        try await vm.client.snapshot(into: vm.memory, timeout: 60)
        try await stop(vm)
        return MemoryBenchmark.monotonic() - t
    }

    /// The parent saved and stopped; the child restored from its state (left paused), the
    /// parent restored and resumed, then the child resumed. The child's config.json is
    /// pointed at its own files between the two timed parts.
    func fork(_ parent: HandVM, into child: HandVM) async throws -> Double {
        let saved = try await suspend(parent)
        try retarget(parent.memory, into: child.restore, for: child)
        let t = MemoryBenchmark.monotonic()
        try await spawn(child)
        try await child.client.restore(from: child.restore, onDemand: true, timeout: 60)
        _ = try await restore(parent, from: parent.memory)
        try await child.client.resume()
        return saved + MemoryBenchmark.monotonic() - t
    }

    /// vm.shutdown, vm.delete, vmm.shutdown (each may fail on a paused VM, as in Converge),
    /// then the exit, waited for.
    func stop(_ vm: HandVM) async throws {
        try? await vm.client.shutdown()
        try? await vm.client.delete()
        try? await vm.client.shutdownVMM()
        guard let pid = pid(vm) else { return }
        var status: Int32 = 0
        let deadline = MemoryBenchmark.monotonic() + 5
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard MemoryBenchmark.monotonic() < deadline else { throw CLIError("the simulator \(pid) did not exit after vmm.shutdown") }
            usleep(200)
        }
        try? FileManager.default.removeItem(atPath: vm.pidFile)
    }

    /// Starts the simulator on the VM's socket and polls vmm.ping every millisecond.
    func spawn(_ vm: HandVM) async throws {
        unlink(vm.socket)
        unlink(vm.vsock)  // CH refuses to restore a vsock device whose socket path exists
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "\(vm.directory)/vmm.log", O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let words: [String] = [simulator, "--api-socket", "path=\(vm.socket)"]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, simulator, &actions, nil, argv, environ)
        guard rc == 0 else { throw CLIError("posix_spawn \(simulator): \(String(cString: strerror(rc)))") }
        try "\(pid)".write(toFile: vm.pidFile, atomically: false, encoding: .utf8)
        let deadline = MemoryBenchmark.monotonic() + 5
        while (try? await vm.client.ping(timeout: 1)) == nil {
            guard MemoryBenchmark.monotonic() < deadline else { throw CLIError("the simulator on \(vm.socket) did not answer within 5 s") }
            usleep(1000)
        }
    }

    private func pid(_ vm: HandVM) -> pid_t? {
        (try? String(contentsOfFile: vm.pidFile, encoding: .utf8)).flatMap { pid_t($0) }
    }

    /// Cleanup: the VM's simulator, by the pid this driver started, if it still runs.
    func kill(_ vm: HandVM) {
        guard let pid = pid(vm) else { return }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
