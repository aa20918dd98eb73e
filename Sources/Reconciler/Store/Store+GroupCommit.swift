import Foundation
import Resources

/// A row to write: a step's intent, the outcome of the step in row `row`, or an event.
enum GroupedWrite {
    case intent(pass: Int64, id: ResourceID, action: String, step: String, at: Double)
    case outcome(row: Int64, error: String?, at: Double)
    case event(Event)
}

/// A write and whoever waits for it to be committed.
struct QueuedWrite {
    var write: GroupedWrite
    var committed: CheckedContinuation<Int64, any Error>
}

/// Group commit of the journal and the events: a thousand balloon actions start at once,
/// and a commit of its own for each of their three rows would be a large part of the pass.
/// Writes that arrive while a commit is pending join it; every caller still returns only
/// once its row is committed, so a step's intent is on disk before its side effect runs.
extension Store {
    /// Writes the intent of a step before its side effect; returns the row to close.
    public func journalIntent(pass: Int64, id: ResourceID, action: String, step: String) async throws -> Int64 {
        try await committed(.intent(pass: pass, id: id, action: action, step: step, at: Clock.now))
    }

    public func journalOutcome(_ row: Int64, error: String?) async throws {
        _ = try await committed(.outcome(row: row, error: error, at: Clock.now))
    }

    public func record(_ event: Event) async throws {
        _ = try await committed(.event(event))
    }

    private func committed(_ write: GroupedWrite) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            queuedWrites.append(QueuedWrite(write: write, committed: continuation))
            // The first write of a batch schedules its commit behind the calls already
            // queued on this actor: those join the batch.
            if queuedWrites.count == 1 { Task { self.commitQueuedWrites() } }
        }
    }

    private func commitQueuedWrites() {
        let batch = queuedWrites
        queuedWrites = []
        do {
            let rows = try db.inTransaction {
                (try batch.map { try apply($0.write) }, .commit)
            }
            for (queued, row) in zip(batch, rows) { queued.committed.resume(returning: row) }
        } catch {
            for queued in batch { queued.committed.resume(throwing: error) }
        }
    }

    private func apply(_ write: GroupedWrite) throws -> Int64 {
        switch write {
        case .intent(let pass, let id, let action, let step, let at):
            try db.run("INSERT INTO journal (pass, kind, name, action, step, started_at) VALUES (?,?,?,?,?,?)",
                       [.integer(pass), .text(id.kind.rawValue), .text(id.name), .text(action), .text(step), .real(at)])
            return db.lastInsertRowID
        case .outcome(let row, let error, let at):
            try db.run("UPDATE journal SET finished_at = ?, outcome = ?, error = ? WHERE id = ?",
                       [.real(at), .text(error == nil ? "done" : "failed"), error.map(SQLValue.text) ?? .null, .integer(row)])
            return row
        case .event(let event):
            try db.run("INSERT INTO events (at, kind, name, type, reason, message) VALUES (?,?,?,?,?,?)",
                       [.real(event.at), .text(event.id.kind.rawValue), .text(event.id.name), .text(event.type.rawValue),
                        .text(event.reason), .text(event.message)])
            return db.lastInsertRowID
        }
    }
}
