import Drivers
import Foundation
import Glibc
import Reconciler
import Resources

/// `converge bench scale`: every scale goal measured in one run, each beside its goal and,
/// where there is one, the naive baseline (one `curl` per VMM, asked one after another).
///
/// On N simulated sandboxes (1,000): create them in one apply (with each journal step's
/// cost per create), a no-op `converge apply` as a whole process (wall and peak RSS), the
/// daemon's pass (`DaemonPass`: apply, status files, metrics) in CPU time, between resyncs
/// and at a resync, a balloon pass; and, on generated specs (10,000), a cold load +
/// validate + plan.
struct ScaleBenchmark {
    var count: Int
    var specCount: Int
    var rounds: Int
    var perFile: Int
    var simulator: String
    var network: Bool
    var json: Bool

    struct Row: Encodable {
        var goal: String
        var target: String
        var measured: String
        var baseline: String
        /// The baseline's wall time, where there is one.
        var baselineSeconds: Double?
        /// nil: a figure shown for context, with no goal of its own.
        var met: Bool?
        var seconds: [Double]
    }

    struct Report: Encodable {
        var count: Int
        var specCount: Int
        var rounds: Int
        var network: Bool
        var cores: Int
        var rows: [Row]
        /// Journal steps of the create pass: milliseconds per create, by step.
        var createSteps: [String: Double]
        /// The balloon pass by phase: median milliseconds, in the order the pass runs them.
        var balloonPhases: [Phase]
        /// The cold load by phase: median milliseconds.
        var coldLoadPhases: [Phase]
    }

    struct Phase: Encodable {
        var phase: String
        var milliseconds: Double
    }

    func run() async throws {
        let cold = try planRows()
        var rows = cold.rows
        let root = "/tmp/cvg-bench-scale-\(getpid())"
        let specsDir = "\(root)/specs", state = "\(root)/state"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try BenchSpecs.prepareHost(state: state, simulator: simulator)
        try BenchSpecs.write(count: count, perFile: perFile, network: network, to: specsDir)
        var (wiring, options) = try BenchSpecs.wiring(state: state, daemon: true)
        options.resync = 30  // `converge apply` and `converge run` by default
        let measured: (rows: [Row], steps: [String: Double], balloonPhases: [Phase])
        do {
            measured = try await measure(wiring, root: root, specsDir: specsDir, state: state, options: options)
        } catch {
            await Self.tearDown(wiring, root: root, options: options)
            throw error
        }
        await Self.tearDown(wiring, root: root, options: options)
        rows += measured.rows
        let report = Report(count: count, specCount: specCount, rounds: rounds, network: network,
                            cores: ProcessInfo.processInfo.activeProcessorCount, rows: rows, createSteps: measured.steps,
                            balloonPhases: measured.balloonPhases, coldLoadPhases: cold.phases)
        if json { try Output.json(report); return }
        print(report)
    }

    // MARK: - The goals

    private func measure(_ wiring: Wiring, root: String, specsDir: String, state: String, options: ApplyOptions) async throws -> (rows: [Row], steps: [String: Double], balloonPhases: [Phase]) {
        let naive = NaiveRunner(), sample = min(count, 100)
        Output.progress("baseline: \(sample) naive creates, one after another…")
        let naiveCreate = try naive.create(count: sample, simulator: simulator, kernel: "\(state)/ch/kernels/vmlinux",
                                           baseImage: "\(state)/ch/images/bench-base.qcow2", directory: "\(root)/naive")
        let naivePerCreate = naiveCreate.seconds / Double(sample)
        Output.progress("creating \(count) sandboxes…")
        let since = Clock.now
        let t0 = TimedChild.monotonic()
        let created = try await wiring.reconciler.apply(try SpecLoader.load(directory: specsDir), options: options)
        let createSeconds = TimedChild.monotonic() - t0
        guard created.converged else { throw CLIError("setup did not converge: \(created.failed.sorted { $0.key < $1.key }.prefix(3))") }
        var steps: [String: Double] = [:]
        for row in try await wiring.store.journalTimings(since: since) { steps[row.step, default: 0] += row.seconds * 1000 / Double(count) }
        var rows = [Row(goal: "create \(count) sandboxes in one apply", target: "< 8 s (< 8 ms a create)",
                        measured: String(format: "%.2f s (%.1f ms a create)", createSeconds, createSeconds * 1000 / Double(count)),
                        baseline: String(format: "%.1f ms a create, %.1f s for %d", naivePerCreate * 1000, naivePerCreate * Double(count), count)
                            + " (\(sample) timed: qemu-img, spawn, curl vmm.ping until it answers, vm.create, vm.boot\(network ? "; no networking" : ""))",
                        baselineSeconds: naivePerCreate * Double(count), met: createSeconds < 8, seconds: [createSeconds])]
        var passes = try await daemonRows(wiring, specsDir: specsDir, state: state, options: options)
        var (balloon, balloonPhases) = try await balloonRow(wiring, specsDir: specsDir, state: state, options: options)
        Output.progress("baseline: curl vm.info, then curl vm.resize + vm.info, on every VMM in turn…")
        let sockets = wiring.host.chSockets
        let (observed, balloons) = try naive.observe(sockets: sockets, expected: count)
        guard balloons.count == count else { throw CLIError("read a balloon size from \(balloons.count) of \(count) VMMs") }
        let naiveBalloon = try naive.balloon(sockets: sockets, sizes: balloons)
        for i in passes.indices {
            passes[i].baseline = Self.baseline(observed, "curl vm.info per VMM, sequential")
            passes[i].baselineSeconds = observed.seconds
        }
        balloon.baseline = Self.baseline(naiveBalloon, "curl vm.resize + curl vm.info per VMM, sequential")
        balloon.baselineSeconds = naiveBalloon.seconds
        rows += passes + [balloon]
        rows += try wholeProcessRows(specsDir: specsDir, state: state, naive: observed)
        return (rows, steps, balloonPhases)
    }

    /// Cold load + validate + plan of `specCount` generated specs (every file parsed, as a
    /// fresh `converge apply` does), timed in a child process configured as that command is.
    private func planRows() throws -> (rows: [Row], phases: [Phase]) {
        let dir = NSTemporaryDirectory() + "converge-bench-scale-specs-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Output.progress("loading \(specCount) specs, \(rounds) rounds…")
        let times = try ColdLoadBenchmark(specCount: specCount, perFile: perFile, rounds: rounds, directory: dir).measureInChild()
        let seconds = zip(times.load, times.plan).map { $0 + $1 }
        guard !seconds.isEmpty else { throw CLIError("converge bench cold timed no round") }
        let parsed = try NaiveRunner().parseSpecs(directory: dir)
        let phases = [Phase(phase: "load + validate (files parsed on every core)", milliseconds: Self.median(times.load) * 1000),
                      Phase(phase: "plan against an empty host", milliseconds: Self.median(times.plan) * 1000)]
        return ([Row(goal: "load + validate + plan \(specCount) specs (cold: every file parsed)", target: "< 150 ms", measured: Self.ms(seconds),
                     baseline: parsed.map { Self.baseline($0, "PyYAML over each file in turn, parsing only") } ?? "- (no python3 with PyYAML)",
                     baselineSeconds: parsed?.seconds, met: Self.median(seconds) < 0.150, seconds: seconds)], phases)
    }

    /// The daemon's pass in CPU time: with every answer still trusted (a pass woken by a
    /// spec change or a VMM exit between resyncs), and at a resync (every VMM and guest asked).
    private func daemonRows(_ wiring: Wiring, specsDir: String, state: String, options: ApplyOptions) async throws -> [Row] {
        Output.progress("timing the daemon's pass, \(rounds) rounds…")
        let pass = DaemonPass(wiring: wiring, stateDirectory: state)
        _ = try await pass.run(specsDir, options: options)  // the first pass writes every status file
        func cpu(_ options: ApplyOptions) async throws -> [Double] {
            try await (0..<rounds).asyncMap { _ in
                let before = TimedChild.processCPU()
                let (_, report) = try await pass.run(specsDir, options: options)
                guard report.outcomes.isEmpty else { throw CLIError("an idle pass did \(report.outcomes.count) actions") }
                return TimedChild.processCPU() - before
            }
        }
        let trusted = try await cpu(options)
        var resync = options
        resync.resync = 0
        let full = try await cpu(resync)
        return [
            Row(goal: "converge run: idle pass over \(count) sandboxes, CPU", target: "< 50 ms", measured: Self.ms(trusted),
                baseline: "-", met: Self.median(trusted) < 0.050, seconds: trusted),
            Row(goal: "converge run: pass at a resync (every VMM and guest agent asked), CPU", target: "-",
                measured: Self.ms(full), baseline: "-", met: nil, seconds: full),
        ]
    }

    /// A tighter policy inflates every balloon; the default gives it back. Each is one
    /// daemon pass (apply, then a thousand status files rewritten) of `count` balloon
    /// actions; the figure is their median.
    private func balloonRow(_ wiring: Wiring, specsDir: String, state: String, options: ApplyOptions) async throws -> (Row, [Phase]) {
        Output.progress("balloon passes, \(rounds) rounds…")
        let pass = DaemonPass(wiring: wiring, stateDirectory: state)
        var seconds: [Double] = [], cpu: [Double] = [], phases = PhaseSamples()
        for round in 0..<(2 * rounds) {
            try BenchSpecs.writeShared(policy: round % 2 == 0 ? BenchSpecs.tightPolicy : BenchSpecs.defaultPolicy, network: network, to: specsDir)
            let t = TimedChild.monotonic()
            let before = TimedChild.processCPU()
            let (_, report) = try await pass.run(specsDir, options: options)
            seconds.append(TimedChild.monotonic() - t)
            cpu.append(TimedChild.processCPU() - before)
            let sized = report.outcomes.filter { $0.action.verb == .balloon && $0.succeeded }.count
            guard report.converged, sized == count else { throw CLIError("a balloon pass sized \(sized) of \(count) balloons") }
            phases.add(report.phases)
        }
        let byPhase = phases.samples.map { Phase(phase: $0.phase, milliseconds: Self.median($0.seconds) * 1000) }
        // Converge's own CPU beside the wall time: the rest is the simulators, on the same cores.
        let row = Row(goal: "converge run: balloon pass over \(count) guests (vm.resize + verify each, status files)", target: "< 500 ms",
                      measured: Self.ms(seconds) + String(format: ", of which Converge's CPU %.0f ms", Self.median(cpu) * 1000),
                      baseline: "-", met: Self.median(seconds) < 0.5, seconds: seconds)
        return (row, byPhase)
    }

    /// `converge apply` as a whole process, against the naive observation it replaces.
    private func wholeProcessRows(specsDir: String, state: String, naive: NaiveRunner.Figure) throws -> [Row] {
        Output.progress("timing converge apply as a whole process, \(rounds) rounds…")
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var runs: [TimedChild] = []
        for _ in 0..<rounds {
            let run = try TimedChild.run([exe, "apply", specsDir, "--state", state])
            guard run.status == 0 else { throw CLIError("converge apply exited \(run.status)") }
            runs.append(run)
        }
        let seconds = runs.map(\.seconds), rss = runs.compactMap(\.peakRSSKiB).max().map { $0 / 1024 }
        let target = network ? 0.300 : 0.200
        return [Row(goal: "no-op converge apply over \(count) running sandboxes\(network ? " (networked, balloon policy)" : ""), whole process",
                    target: "< \(Int(target * 1000)) ms, RSS < 50 MiB",
                    measured: "\(Self.ms(seconds)), peak RSS \(rss.map { "\($0) MiB" } ?? "unknown (install Debian's time)")",
                    baseline: Self.baseline(naive, "curl vm.info per VMM, sequential"), baselineSeconds: naive.seconds,
                    met: Self.median(seconds) < target && (rss ?? .max) < 50, seconds: seconds)]
    }

    // MARK: - Output

    private func print(_ report: Report) {
        Swift.print("benchmark scale: \(count) sandboxes\(network ? " in TapPool slots" : ""), \(specCount) specs, \(rounds) rounds, \(report.cores) cores; medians (min–max)")
        for row in report.rows {
            let verdict = row.met.map { $0 ? "met" : "MISSED" } ?? ""
            Swift.print("  \(row.goal)\n      measured \(row.measured)   goal \(row.target)   baseline \(row.baseline)   \(verdict)")
        }
        Swift.print("  create, per create, by journal step (ms; steps of concurrent creates overlap):")
        for (step, ms) in report.createSteps.sorted(by: { $0.value > $1.value }) {
            Swift.print("      \(step.padding(toLength: 28, withPad: " ", startingAt: 0)) \(String(format: "%6.2f", ms))")
        }
        Swift.print("  cold load, by phase (median ms):")
        for phase in report.coldLoadPhases {
            Swift.print("      \(phase.phase.padding(toLength: 44, withPad: " ", startingAt: 0)) \(String(format: "%6.1f", phase.milliseconds))")
        }
        Swift.print("  balloon pass, by phase (median ms):")
        for phase in report.balloonPhases {
            Swift.print("      \(phase.phase.padding(toLength: 32, withPad: " ", startingAt: 0)) \(String(format: "%6.1f", phase.milliseconds))")
        }
    }

    static func baseline(_ figure: NaiveRunner.Figure, _ method: String) -> String {
        String(format: "%.2f s, CPU %.2f s", figure.seconds, figure.cpuSeconds) + " (\(method))"
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    static func ms(_ seconds: [Double]) -> String {
        let sorted = seconds.sorted()
        return String(format: "%.0f ms (%.0f–%.0f)", median(seconds) * 1000, sorted.first! * 1000, sorted.last! * 1000)
    }

    private static func tearDown(_ wiring: Wiring, root: String, options: ApplyOptions) async {
        Output.progress("removing the sandboxes…")
        let empty = "\(root)/empty"
        try? FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        do {
            let report = try await wiring.reconciler.apply(try SpecLoader.load(directory: empty), options: options)
            if !report.converged { Output.progress("teardown left \(report.failed.count) sandboxes: \(report.failed.prefix(3))") }
        } catch {
            Output.progress("teardown failed: \(error)")
        }
    }
}
