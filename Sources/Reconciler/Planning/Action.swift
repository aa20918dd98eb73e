import Resources

/// What an action does to its resource. Raw values are stable: they appear in `--json`
/// output and in the journal.
public enum Verb: String, Sendable, Codable, CaseIterable {
    case create, start, stop, pause, resume, suspend, resize, balloon, update, growDisk = "grow-disk", push, replace, destroy

    /// The plan symbol a person reads: `+` create, `~` change, `-/+` replace, `-` destroy.
    public var symbol: String {
        switch self {
        case .create: "+"
        case .replace: "-/+"
        case .destroy: "-"
        default: "~"
        }
    }
}

/// One field that differs between desired and observed.
public struct Change: Hashable, Sendable, Codable, CustomStringConvertible {
    public var field: String
    public var from: String
    public var to: String

    public init(_ field: String, from: String, to: String) {
        self.field = field
        self.from = from
        self.to = to
    }

    public var description: String { "\(field): \(from) → \(to)" }
}

/// One idempotent step of convergence for one resource.
public struct Action: Hashable, Sendable, Codable, CustomStringConvertible {
    public var id: ResourceID
    public var verb: Verb
    public var reason: String
    public var changes: [Change]
    /// Resources whose actions in the same plan must succeed first.
    public var dependsOn: [ResourceID]
    /// For sandboxes: the config to build, and the state to reach.
    public var config: SandboxConfig?
    public var targetState: PowerState?
    /// For replacements: whether the disk survives.
    public var keepsDisk: Bool
    /// For pools, policies and snapshots: the spec to apply.
    public var body: ResourceBody?
    /// For `balloon`: the balloon size to set.
    public var balloon: Quantity?

    public init(_ id: ResourceID, _ verb: Verb, reason: String, changes: [Change] = [], dependsOn: [ResourceID] = [],
                config: SandboxConfig? = nil, targetState: PowerState? = nil, keepsDisk: Bool = false, body: ResourceBody? = nil,
                balloon: Quantity? = nil) {
        self.id = id
        self.verb = verb
        self.reason = reason
        self.changes = changes
        self.dependsOn = dependsOn
        self.config = config
        self.targetState = targetState
        self.keepsDisk = keepsDisk
        self.body = body
        self.balloon = balloon
    }

    /// Destroys data: a destroy, or a replacement that drops the disk.
    public var isDestructive: Bool { verb == .destroy || (verb == .replace && !keepsDisk) }

    public var description: String { "\(verb.symbol) \(id) \(verb.rawValue): \(reason)" }
}

/// Something the planner noticed that is not an action: drift it repairs, or a change it
/// refuses (a disk cannot shrink).
public struct Finding: Hashable, Sendable, Codable {
    public enum Severity: String, Sendable, Codable { case drift, blocked }
    public var id: ResourceID
    public var severity: Severity
    public var reason: String
    public var message: String

    public init(_ id: ResourceID, _ severity: Severity, reason: String, message: String) {
        self.id = id
        self.severity = severity
        self.reason = reason
        self.message = message
    }
}

/// The ordered actions of one pass, and what the prune guard held back.
public struct Plan: Sendable, Equatable, Codable {
    public var actions: [Action]
    public var heldBack: [Action]
    public var findings: [Finding]
    /// Why every destroy of this pass is held (`PruneHeld` findings name them), if they are.
    public var pruneHold: String?

    public init(actions: [Action] = [], heldBack: [Action] = [], findings: [Finding] = [], pruneHold: String? = nil) {
        self.actions = actions
        self.heldBack = heldBack
        self.findings = findings
        self.pruneHold = pruneHold
    }

    public var isEmpty: Bool { actions.isEmpty }

    /// Nothing to do and nothing held back or refused: the host matches the specs.
    public var isConverged: Bool {
        actions.isEmpty && heldBack.isEmpty && !findings.contains { $0.severity == .blocked }
    }
}
