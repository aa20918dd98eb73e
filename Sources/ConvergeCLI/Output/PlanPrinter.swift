import Reconciler
import Resources

/// The person-readable plan: one line per action with its symbol, then its changes.
enum PlanPrinter {
    static func print(_ report: PlanReport, specs: SpecSet, directory: String, verbose: Bool) {
        let plan = report.plan
        let frozen = report.desired.frozen
        for path in report.leftovers {
            Swift.print("! leftover \(path) belongs to no sandbox; apply removes it")
        }
        for id in frozen {
            Swift.print("! \(id) is held at its last good spec: its file does not validate")
        }
        if let hold = plan.pruneHold {
            Swift.print("! Prunes are held: \(hold)")
        }
        for finding in plan.findings {
            if finding.reason == "PruneHeld" {
                Swift.print("! \(finding.id) is kept although no valid spec names it (prunes are held)")
            } else {
                Swift.print("! \(finding.id): \(finding.message)")
            }
        }
        defer { if verbose { Verbose.print(report) } }
        guard !plan.actions.isEmpty || !plan.heldBack.isEmpty else {
            if !specs.isValid {
                // Never "No changes" while resources are held: their files are not applied.
                Swift.print(held(frozen, invalidFiles: specs.invalidFiles))
            } else if plan.isConverged {
                Swift.print("No changes. The host matches the specs in \(directory).")
            } else {
                Swift.print("No actions, but the host does not match the specs: see the refusals above.")
            }
            return
        }
        Swift.print("Converge will perform these actions:\n")
        for action in plan.actions { line(action) }
        Swift.print("")
        Swift.print(summary(plan.actions))
        if !plan.heldBack.isEmpty {
            Swift.print("\nHeld back by the prune guard (raise --max-destroy or pass --force to allow):")
            for action in plan.heldBack { line(action) }
        }
        if !specs.isValid { Swift.print(held(frozen, invalidFiles: specs.invalidFiles, noChanges: false)) }
    }

    /// "No changes to valid resources; 2 held at their last good spec (file web.yaml does not validate)."
    static func held(_ frozen: [ResourceID], invalidFiles: Set<String>, noChanges: Bool = true) -> String {
        let files = invalidFiles.sorted()
        let plural = files.count != 1
        let which = "file\(plural ? "s" : "") \(files.joined(separator: ", ")) do\(plural ? "" : "es") not validate"
        let text = frozen.isEmpty ? "\(which) and \(plural ? "are" : "is") not applied" : "\(frozen.count) held at their last good spec (\(which))"
        return noChanges ? "No changes to valid resources; \(text)." : text.prefix(1).uppercased() + text.dropFirst() + "."
    }

    static func line(_ action: Action) {
        let symbol = action.verb.symbol.padding(toLength: 3, withPad: " ", startingAt: 0)
        var text = "  \(symbol) \(action.id) \(action.verb.rawValue): \(action.reason)"
        if action.verb == .create, let c = action.config {
            text += " (\(c.cpus) cpus, \(c.memory), disk \(c.disk), \(c.source), \(action.targetState?.rawValue ?? "running"))"
        }
        Swift.print(text)
        for change in action.changes { Swift.print("        \(change.field): \(change.from) → \(change.to)") }
    }

    static func summary(_ actions: [Action]) -> String {
        let create = actions.filter { $0.verb == .create }.count
        let replace = actions.filter { $0.verb == .replace }.count
        let destroy = actions.filter { $0.verb == .destroy }.count
        let change = actions.count - create - replace - destroy
        return "Plan: \(create) to create, \(change) to change, \(replace) to replace, \(destroy) to destroy."
    }
}

/// `--json` shape of a plan: stable keys, every action with kind, name, action and reason.
struct PlanJSON: Encodable {
    struct ActionJSON: Encodable {
        var kind: String
        var name: String
        var action: String
        var symbol: String
        var reason: String
        var changes: [Change]
        var dependsOn: [String]
        var keepsDisk: Bool?
    }
    struct FindingJSON: Encodable {
        var kind: String
        var name: String
        var severity: String
        var reason: String
        var message: String

        init(_ f: Finding) {
            kind = f.id.kind.rawValue
            name = f.id.name
            severity = f.severity.rawValue
            reason = f.reason
            message = f.message
        }
    }

    var directory: String
    var changes: Bool
    var actions: [ActionJSON]
    var heldBack: [ActionJSON]
    var findings: [FindingJSON]
    var frozen: [String]
    var diagnostics: [DiagnosticJSON]
    /// Why no destroy runs this pass (null when destroys may run).
    var pruneHold: String?
    /// Files that belong to nothing; apply removes them.
    var leftovers: [String]

    init(directory: String, report: PlanReport, specs: SpecSet) {
        self.directory = directory
        changes = !report.plan.isConverged
        actions = report.plan.actions.map(Self.action)
        heldBack = report.plan.heldBack.map(Self.action)
        findings = report.plan.findings.map(FindingJSON.init)
        frozen = report.desired.frozen.map(\.description)
        diagnostics = specs.diagnostics.map(DiagnosticJSON.init)
        pruneHold = report.plan.pruneHold
        leftovers = report.leftovers
    }

    static func action(_ a: Action) -> ActionJSON {
        ActionJSON(kind: a.id.kind.rawValue, name: a.id.name, action: a.verb.rawValue, symbol: a.verb.symbol, reason: a.reason,
                   changes: a.changes, dependsOn: a.dependsOn.map(\.description), keepsDisk: a.verb == .replace ? a.keepsDisk : nil)
    }
}
