import Foundation
import Resources

/// Where a job stands against what `converge run` observed.
enum Verdict: Sendable, Equatable {
    /// Not there yet, and why (for the message of a job that never gets there).
    case pending(String)
    case reached(StatusRow?)
    /// The reconciler cannot get there: its condition says why.
    case failed(String)
}

/// Reads a goal against status rows. A Degraded condition for the spec the row shows
/// fails the job: at once when the planner refuses (a blocked finding: nothing will be
/// tried), after `failAfter` seconds when actions fail (the daemon retries with backoff).
struct GoalCheck: Sendable {
    var status: ObservedStatus
    var failAfter: Double

    /// - Parameter degradedSince: when this job first saw the resource degraded; kept by the caller.
    func verdict(_ goal: Goal, degradedSince: inout Date?, now: Date = Date()) -> Verdict {
        switch goal {
        case .none:
            return .reached(nil)
        case .sandboxAbsent(let name):
            guard let row = status.row("Sandbox", name) else { return .reached(nil) }
            if row.desiredState == nil && row.observedState == "absent" { return .reached(nil) }
            if row.desiredState != nil { return .pending("the reconciler has not read the removal of \(name) yet") }
            return failure(row, blocking: false, &degradedSince, now) ?? .pending("\(name) is still \(row.observedState ?? "there")")
        case .sandbox(let name, let state, let cpus, let memory, let disk):
            guard let row = status.row("Sandbox", name) else { return .pending("\(name) is not observed yet") }
            guard row.desiredState == state.rawValue else { return .pending("the reconciler has not read the spec of \(name) yet") }
            if let failed = failure(row, blocking: true, &degradedSince, now) { return failed }
            let shape = (cpus == nil || row.cpus == cpus) && (memory == nil || row.memory.flatMap(Quantity.init(parsing:)) == memory)
                && (disk == nil || row.disk.flatMap(Quantity.init(parsing:)) == disk)
            if row.observedState == state.rawValue && row.ready == "True" && shape { return .reached(row) }
            return .pending("\(name) is \(row.observedState ?? "unknown") (\(row.reason)), wanted \(state.rawValue)"
                            + (shape ? "" : " with cpus \(cpus.map(String.init) ?? "-"), memory \(memory?.description ?? "-"), disk \(disk?.description ?? "-")"))
        case .snapshot(let name):
            guard let row = status.row("Snapshot", name), row.generation != nil else { return .pending("snapshot \(name) is not observed yet") }
            if let failed = failure(row, blocking: true, &degradedSince, now) { return failed }
            if row.applied && row.ready == "True" { return .reached(row) }
            return .pending("snapshot \(name) is not taken yet (\(row.reason))")
        }
    }

    private func failure(_ row: StatusRow, blocking: Bool, _ since: inout Date?, _ now: Date) -> Verdict? {
        guard let degraded = row.degradation else {
            since = nil
            return nil
        }
        let message = "\(degraded.reason): \(degraded.message)"
        // A blocked finding is not retried by the reconciler; a failed action is.
        if blocking && degraded.reason != "ActionFailed" { return .failed(message) }
        let first = since ?? now
        since = first
        return now.timeIntervalSince(first) >= failAfter ? .failed(message) : nil
    }
}
