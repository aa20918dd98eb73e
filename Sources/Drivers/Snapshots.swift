import Reconciler
import Resources

/// The snapshot driver of this version: Snapshot resources are validated and planned
/// (ordered before the sandboxes restored from them), but taking one is not implemented
/// yet, and says so instead of pretending.
public struct UnimplementedSnapshots: SnapshotDriver {
    public init() {}

    public func observe() async throws -> [String: ObservedSnapshot] { [:] }

    public func take(_ name: String, spec: SnapshotSpec, journal: StepJournal) async throws {
        throw StepFailure(step: "snapshot.take", message: "taking snapshots is not implemented in this version of Converge; remove the Snapshot from the specs for now")
    }

    public func remove(_ name: String, journal: StepJournal) async throws {}
}
