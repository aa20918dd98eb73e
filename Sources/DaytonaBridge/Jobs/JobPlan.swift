import Resources

/// What one job asks of the spec directory, and when it is done.
struct JobPlan: Sendable, Equatable {
    /// A file to write (relative name and full text) or to remove.
    enum Change: Sendable, Equatable {
        case put(file: String, text: String)
        case remove(file: String)
    }
    var changes: [Change]
    var goal: Goal
    var result: ResultShape
}

/// The observed state at which a job is done.
enum Goal: Sendable, Equatable {
    /// The sandbox is in `state` (and, when given, has these cpus, memory and disk).
    case sandbox(name: String, state: PowerState, cpus: Int? = nil, memory: Quantity? = nil, disk: Quantity? = nil)
    /// No sandbox of that name is left on the host.
    case sandboxAbsent(name: String)
    /// The snapshot is taken.
    case snapshot(name: String)
    /// Nothing to wait for.
    case none
}

/// The `resultMetadata` the reference gives each job type (§3.6).
enum ResultShape: Sendable, Equatable {
    /// No resultMetadata.
    case nothing
    /// `{}` (PAUSE_SANDBOX's empty proto result).
    case empty
    /// `{"daemonVersion"}` (CREATE, START, FORK).
    case daemonVersion
    /// `{"ref","hash","sizeGB"}` (SNAPSHOT_SANDBOX).
    case snapshotRef(name: String)
}

/// A job the bridge will not or cannot run; its message becomes the job's errorMessage.
struct JobRefused: Error, Sendable, Equatable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
