import Resources

/// What desired state a pass works from: the valid specs plus, for resources of files
/// that failed to parse or validate, their last good spec (frozen, never destroyed).
public struct DesiredState: Sendable {
    public var resources: [ResourceID: Resource]
    public var frozen: [ResourceID]
    public var generations: [ResourceID: Int]
    /// Resources of invalid files whose stored last good spec does not decode either.
    public var unreadable: [StoredSpecUnreadable] = []
    /// Why no destroy may run this pass, if one may not (see `PlanOptions.pruneHold`).
    public var pruneHold: String?
    /// Each spec's content hash, computed once a pass.
    var hashes: [ResourceID: String] = [:]
    /// The stored specs' headers as the pass began.
    var stored: [ResourceID: Store.SpecHeader] = [:]
}

/// Progress of an apply, for a terminal or a log.
public enum ProgressEvent: Sendable {
    case iteration(Int, actions: Int)
    case started(Action)
    case finished(Action, seconds: Double, error: String?)
    case skipped(Action, because: String)
    case finding(Finding)
}

/// How one action ended.
public struct ActionOutcome: Sendable, Codable, Equatable {
    public var action: Action
    public var succeeded: Bool
    public var error: String?
    public var seconds: Double
}

/// The result of `plan`.
public struct PlanReport: Sendable {
    public var plan: Plan
    public var desired: DesiredState
    public var observed: ObservedState
    /// What observation found that belongs to nothing (see `SandboxRuntime.leftovers`);
    /// `apply` removes it.
    public var leftovers: [String] = []
}

/// The result of `apply`.
public struct ApplyReport: Sendable {
    public var converged: Bool
    public var iterations: Int
    public var outcomes: [ActionOutcome]
    public var heldBack: [Action]
    public var findings: [Finding]
    public var failed: [ResourceID: String]
    public var remaining: [Action]
    public var frozen: [ResourceID]
    /// Why this pass destroyed nothing, if it was held (see `PlanOptions.pruneHold`).
    public var pruneHold: String?
    /// The host as last observed in this pass.
    public var observed: ObservedState
    /// Where the pass spent its time.
    public var phases = PhaseTimes()
}

/// Why a pass refused to run at all.
public enum ReconcileError: Error, Sendable, CustomStringConvertible {
    case emptySpecs(directory: String, existing: Int)
    case recordedTwice(name: String, runtimes: [Runtime])

    public var description: String {
        switch self {
        case .emptySpecs(let dir, let n):
            "\(dir) holds no resources, but Converge manages \(n) on this host; an empty spec directory is never read as \"destroy everything\". Check the path, or pass --allow-empty to destroy them (a writer that means an empty set keeps the file \(SpecSet.allowEmptyMarker) in the directory)"
        case .recordedTwice(let name, let runtimes):
            "sandbox \(name) is recorded by two runtimes (\(runtimes.map(\.rawValue).joined(separator: " and "))); nothing is changed until one record is removed (its cvg-\(name)/converge.json in that runtime's sandboxes directory)"
        }
    }
}
