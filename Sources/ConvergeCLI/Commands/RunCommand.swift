import Dispatch
import Drivers
import Foundation
import Glibc
import Reconciler
import Resources
import Synchronization

/// `converge run DIR`: the daemon. Reconciles at start, whenever the spec tree changes
/// (inotify, debounced), whenever a watched VMM exits (pidfd), when a resource's backoff
/// expires, and every resync interval; until SIGTERM or SIGINT, then finishes the actions
/// in flight (bounded by the grace period) and exits 0.
struct RunCommand: Command {
    static let name = "run"
    static let abstract = "daemon: watch DIR and keep the host converged until SIGTERM/SIGINT"
    static let arguments = "DIR"
    static let options = [
        OptionSpec("--grace", value: "DURATION", "on SIGTERM/SIGINT, wait this long for actions in flight (default 30s)"),
    ] + ApplyCommand.planOptions

    var global: GlobalOptions
    var directory: String
    var options: ApplyOptions
    var resync: Double
    var grace: Double

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        options = try ApplyCommand.applyOptions(&arguments)
        // A pass at least every resync, which is also how long a VMM's answer is trusted.
        guard options.resync > 0 else { throw UsageError("--resync must be longer than 0s for run") }
        resync = options.resync
        grace = try Self.seconds(arguments.value("--grace"), default: 30)
        directory = try arguments.positionals(min: 1, max: 1, usage: Self.usage)[0]
    }

    static func seconds(_ text: String?, default fallback: Double) throws -> Double {
        guard let text else { return fallback }
        guard let d = SpecDuration(parsing: text), d.milliseconds > 0 else { throw UsageError("'\(text)' is not a duration (e.g. 30s, 5m)") }
        return Double(d.milliseconds) / 1000
    }

    func run() async throws {
        let wiring = try Wiring(global, daemon: true)
        let lock = try StateLock(stateDirectory: global.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        let waiter = try EventWaiter(directory: directory)
        let stopping = Mutex(false)
        let grace = self.grace
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard stopping.withLock({ let was = $0; $0 = true; return !was }) else { return }
                Log.line("signal \(number == SIGTERM ? "SIGTERM" : "SIGINT"): finishing the actions in flight (at most \(Int(grace))s)")
                waiter.interrupt()
                // The grace period is a bound: past it, leave (the journal shows what was in flight).
                DispatchQueue.global().asyncAfter(deadline: .now() + grace) {
                    Log.line("grace period over; exiting")
                    exit(0)
                }
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }

        var backoff = Backoff()
        let daemonPass = DaemonPass(wiring: wiring, stateDirectory: global.stateDirectory)
        var reason = "start"
        var balloonInterval: Double?
        var lastBalloonPass = Clock.now
        var treeRoot = waiter.specTreeRoot
        Log.line("watching \(directory)\(treeRoot.map { $0 == directory ? "" : " (leads to \($0))" } ?? " (not there yet)"); resync every \(Int(resync))s")
        while !stopping.withLock({ $0 }) {
            let started = Date()
            // Every pass, failed or not, samples guest memory: the balloon loop's period
            // counts from the start of the last one (a failed pass must not make it due at once).
            lastBalloonPass = Clock.now
            var passOptions = options
            passOptions.deferred = backoff.waiting(now: Clock.now)
            passOptions.shouldStop = { stopping.withLock { $0 } }
            do {
                let (specs, report) = try await daemonPass.run(directory, options: passOptions, started: started) { event in ProgressPrinter.print(event) }
                for outcome in report.outcomes where outcome.succeeded { backoff.succeeded(outcome.action.id) }
                for (id, error) in report.failed {
                    let delay = backoff.failed(id, now: Clock.now)
                    Log.line("\(id): \(error); retrying in \(String(format: "%.1f", delay))s")
                }
                let seconds = Date().timeIntervalSince(started)
                waiter.watchProcesses(Set(report.observed.sandboxes.values.compactMap { $0.process?.pid }))
                balloonInterval = Self.balloonInterval(specs, report.observed)
                Log.line("pass (\(reason)): \(report.outcomes.count) action(s), \(report.converged && specs.isValid ? "converged" : specs.isValid ? "not converged" : "invalid specs held") in \(String(format: "%.3f", seconds))s")
            } catch {
                daemonPass.metrics.recordError()
                Log.line("pass (\(reason)) failed: \(error)")
            }
            guard !stopping.withLock({ $0 }) else { break }
            let now = Clock.now
            let balloonTick = balloonInterval.map { lastBalloonPass + $0 - now } ?? .infinity
            let otherTimeout = min(resync, (backoff.nextRetry(after: now) ?? .infinity) - now)
            let timeout = max(0, min(otherTimeout, balloonTick))
            let wake = try await Blocking.run { waiter.wait(timeout: timeout) }
            switch wake {
            case .signal: reason = "signal"
            case .specsChanged:
                reason = "spec change"
                // A sync engine swapped a symlink: say which revision the daemon now reads.
                if waiter.specTreeRoot != treeRoot {
                    treeRoot = waiter.specTreeRoot
                    Log.line("\(directory) now leads to \(treeRoot ?? "nothing")")
                }
            case .processExited(let pid): reason = "VMM pid \(pid) exited"
            case .timeout: reason = balloonTick <= otherTimeout ? "balloon interval" : "resync"
            }
        }
        Log.line("stopped")
    }

    /// The shortest `interval` of the BalloonPolicies that running sandboxes name; nil
    /// when no balloon needs watching.
    static func balloonInterval(_ specs: SpecSet, _ observed: ObservedState) -> Double? {
        let named = Set(observed.sandboxes.values.filter { $0.vm == .running }.compactMap(\.config.balloonPolicy))
        return named.compactMap { specs.resources[ResourceID(.balloonPolicy, $0)]?.balloonPolicy }
            .map { Double($0.interval.milliseconds) / 1000 }.min()
    }
}

/// Timestamped lines on stderr, for a daemon's log.
enum Log {
    static func line(_ text: String) {
        let time = ISO8601DateFormatter().string(from: Date())
        Output.progress("\(time) \(text)")
    }
}

/// Prometheus text-format metrics, rewritten atomically after every pass (for node
/// exporter's textfile collector).
final class Metrics: @unchecked Sendable {
    let path: String
    private var passes = 0
    private var errors = 0
    private var actions: [String: Int] = [:]
    /// The last pass's gauges; nil before the first pass (nothing is written until then).
    private var last: (seconds: Double, converged: Bool, states: [String: Int], freeSlots: [String: Int], balloons: BalloonTotals)?

    /// Balloons of the last pass: memory reclaimed from guests, and guests that did not say what they use.
    struct BalloonTotals {
        var reclaimedBytes: Int64 = 0
        var ballooned = 0
        var guestsSilent = 0
    }

    init(path: String) { self.path = path }

    func record(_ report: ApplyReport, seconds: Double, specsValid: Bool) {
        passes += 1
        for outcome in report.outcomes {
            let key = "kind=\"\(outcome.action.id.kind.rawValue)\",action=\"\(outcome.action.verb.rawValue)\",outcome=\"\(outcome.succeeded ? "succeeded" : "failed")\""
            actions[key, default: 0] += 1
        }
        errors += report.failed.count + (specsValid ? 0 : 1)
        var states: [String: Int] = ["running": 0, "paused": 0, "stopped": 0, "suspended": 0, "other": 0]
        var balloons = BalloonTotals()
        for sandbox in report.observed.sandboxes.values {
            states[sandbox.powerState?.rawValue ?? "other", default: 0] += 1
            guard let balloon = sandbox.balloon else { continue }
            balloons.reclaimedBytes += balloon.size.bytes
            if balloon.size.bytes > 0 { balloons.ballooned += 1 }
            if balloon.unavailable != nil { balloons.guestsSilent += 1 }
        }
        last = (seconds, report.converged, states, report.observed.pools.mapValues(\.ready), balloons)
        flush()
    }

    func recordError() {
        errors += 1
        flush()
    }

    private func flush() {
        guard let last else { return }
        var text = """
        # HELP converge_passes_total Reconcile passes run by this daemon.
        # TYPE converge_passes_total counter
        converge_passes_total \(passes)
        # HELP converge_pass_duration_seconds Duration of the last pass.
        # TYPE converge_pass_duration_seconds gauge
        converge_pass_duration_seconds \(String(format: "%.6f", last.seconds))
        # HELP converge_converged Whether the last pass ended converged (1) or not (0).
        # TYPE converge_converged gauge
        converge_converged \(last.converged ? 1 : 0)
        # HELP converge_errors_total Failed actions and invalid spec loads.
        # TYPE converge_errors_total counter
        converge_errors_total \(errors)
        # HELP converge_actions_total Actions run, by kind, action and outcome.
        # TYPE converge_actions_total counter

        """
        for key in actions.keys.sorted() { text += "converge_actions_total{\(key)} \(actions[key]!)\n" }
        text += "# HELP converge_sandboxes Sandboxes on the host by observed state.\n# TYPE converge_sandboxes gauge\n"
        for state in last.states.keys.sorted() { text += "converge_sandboxes{state=\"\(state)\"} \(last.states[state]!)\n" }
        text += "# HELP converge_pool_free_slots Ready, unclaimed slots per TapPool.\n# TYPE converge_pool_free_slots gauge\n"
        for pool in last.freeSlots.keys.sorted() { text += "converge_pool_free_slots{pool=\"\(pool)\"} \(last.freeSlots[pool]!)\n" }
        text += """
        # HELP converge_balloon_reclaimed_bytes Guest memory held by balloons (given back to the host).
        # TYPE converge_balloon_reclaimed_bytes gauge
        converge_balloon_reclaimed_bytes \(last.balloons.reclaimedBytes)
        # HELP converge_balloon_sandboxes Sandboxes whose balloon holds memory.
        # TYPE converge_balloon_sandboxes gauge
        converge_balloon_sandboxes \(last.balloons.ballooned)
        # HELP converge_balloon_guest_unavailable Sandboxes under a BalloonPolicy whose guest agent did not answer.
        # TYPE converge_balloon_guest_unavailable gauge
        converge_balloon_guest_unavailable \(last.balloons.guestsSilent)

        """
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? AtomicFile.write(Data(text.utf8), to: path)
    }
}
