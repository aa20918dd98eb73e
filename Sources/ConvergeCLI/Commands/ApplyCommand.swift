import Foundation
import Reconciler
import Resources

/// `converge apply DIR`: plan, then converge; progress on stderr; idempotent.
/// Exit 0 converged, 1 error or not converged.
struct ApplyCommand: Command {
    static let name = "apply"
    static let abstract = "converge the host to the specs (idempotent)"
    static let arguments = "DIR"
    static let options = planOptions + [OptionSpec("--concurrency", value: "N", "independent actions run at the same time (default 8; a round of balloon resizes only: 128)")]

    var global: GlobalOptions
    var directory: String
    var options: ApplyOptions

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        options = try Self.applyOptions(&arguments)
        if let n = try arguments.int("--concurrency") { options.concurrency = max(1, n) }
        directory = try arguments.positionals(min: 1, max: 1, usage: Self.usage)[0]
    }

    static func applyOptions(_ arguments: inout Arguments) throws -> ApplyOptions {
        var options = ApplyOptions()
        options.plan.maxDestroy = try arguments.int("--max-destroy")
        options.plan.force = arguments.flag("--force")
        options.allowEmpty = arguments.flag("--allow-empty")
        options.resync = 30
        if let text = try arguments.value("--resync") {
            guard let duration = SpecDuration(parsing: text) else { throw UsageError("'\(text)' is not a duration (e.g. 0s, 30s, 5m)") }
            options.resync = Double(duration.milliseconds) / 1000
        }
        return options
    }

    func run() async throws {
        let specs = try SpecReading.load(directory)
        let wiring = try Wiring(global)
        let lock = try StateLock(stateDirectory: global.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        let json = global.json
        // Journal rows before this pass: -v prints the ones after (the lock keeps other writers out).
        let journalBefore = global.verbose && !json ? try await wiring.store.journal().count : 0
        let started = Date()
        let report = try await wiring.reconciler.apply(specs, options: options) { event in
            guard !json else { return }
            ProgressPrinter.print(event)
        }
        let seconds = Date().timeIntervalSince(started)
        if json {
            try Output.json(ApplyJSON(directory: directory, report: report, specs: specs, seconds: seconds))
        } else {
            ProgressPrinter.summary(report, specs: specs, seconds: seconds)
            if global.verbose {
                Verbose.steps(try await wiring.store.journal(), skip: journalBefore)
                Verbose.observed(report.observed)
            }
        }
        if !report.converged || !specs.isValid { throw ExitCode.failure }
    }
}

/// Lines an apply prints while it works.
enum ProgressPrinter {
    static func print(_ event: ProgressEvent) {
        switch event {
        case .iteration(let n, let count):
            if n > 1 { Output.progress("round \(n): \(count) action\(count == 1 ? "" : "s")") }
        case .started(let action):
            Output.progress("  \(action.verb.symbol.padding(toLength: 3, withPad: " ", startingAt: 0)) \(action.id) \(action.verb.rawValue)… (\(action.reason))")
        case .finished(let action, let seconds, let error):
            if let error {
                Output.progress("  ✗   \(action.id) \(error)")
            } else {
                Output.progress("  ✓   \(action.id) \(action.verb.rawValue) done in \(String(format: "%.2f", seconds))s")
            }
        case .skipped(let action, let because):
            Output.progress("  ·   \(action.id) \(action.verb.rawValue) skipped: \(because)")
        case .finding(let finding):
            Output.progress("  !   \(finding.id): \(finding.message)")
        }
    }

    static func summary(_ report: ApplyReport, specs: SpecSet, seconds: Double) {
        let ok = report.outcomes.filter(\.succeeded).count
        let failed = report.outcomes.count - ok
        if report.outcomes.isEmpty && report.converged {
            // Resources of invalid files are held, not matched: never "No changes" then.
            Swift.print(specs.isValid ? "No changes: the host already matches the specs."
                                      : PlanPrinter.held(report.frozen, invalidFiles: specs.invalidFiles))
            return
        }
        Swift.print("Apply \(report.converged && specs.isValid ? "complete" : "incomplete"): \(ok) action\(ok == 1 ? "" : "s") done, \(failed) failed, in \(String(format: "%.2f", seconds))s.")
        for (id, error) in report.failed.sorted(by: { $0.key < $1.key }) {
            Swift.print("  \(id): \(error)")
        }
        if !report.heldBack.isEmpty {
            Swift.print("Held back by the prune guard (raise --max-destroy or pass --force):")
            for action in report.heldBack { Swift.print("  - \(action.id) \(action.verb.rawValue): \(action.reason)") }
        }
        if let hold = report.pruneHold {
            let kept = report.findings.filter { $0.reason == "PruneHeld" }.map(\.id.description)
            Swift.print("Prunes held\(kept.isEmpty ? "" : " (\(kept.joined(separator: ", ")) kept)"): \(hold)")
        }
        for action in report.remaining where report.failed[action.id] == nil && !report.heldBack.contains(action) {
            Swift.print("  still pending: \(action)")
        }
        if !specs.isValid { Swift.print(PlanPrinter.held(report.frozen, invalidFiles: specs.invalidFiles, noChanges: false)) }
    }
}

/// `--json` shape of an apply.
struct ApplyJSON: Encodable {
    struct OutcomeJSON: Encodable {
        var kind: String
        var name: String
        var action: String
        var reason: String
        var succeeded: Bool
        var error: String?
        var seconds: Double
    }
    var directory: String
    var converged: Bool
    var rounds: Int
    var seconds: Double
    var outcomes: [OutcomeJSON]
    var heldBack: [PlanJSON.ActionJSON]
    var remaining: [PlanJSON.ActionJSON]
    var failed: [String: String]
    var findings: [PlanJSON.FindingJSON]
    var frozen: [String]
    var diagnostics: [DiagnosticJSON]
    var pruneHold: String?

    init(directory: String, report: ApplyReport, specs: SpecSet, seconds: Double) {
        self.directory = directory
        converged = report.converged
        rounds = report.iterations
        self.seconds = seconds
        outcomes = report.outcomes.map {
            OutcomeJSON(kind: $0.action.id.kind.rawValue, name: $0.action.id.name, action: $0.action.verb.rawValue, reason: $0.action.reason,
                        succeeded: $0.succeeded, error: $0.error, seconds: $0.seconds)
        }
        heldBack = report.heldBack.map(PlanJSON.action)
        remaining = report.remaining.map(PlanJSON.action)
        failed = Dictionary(uniqueKeysWithValues: report.failed.map { ($0.key.description, $0.value) })
        findings = report.findings.map(PlanJSON.FindingJSON.init)
        frozen = report.frozen.map(\.description)
        diagnostics = specs.diagnostics.map(DiagnosticJSON.init)
        pruneHold = report.pruneHold
    }
}
