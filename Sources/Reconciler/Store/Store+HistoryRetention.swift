import Foundation

/// How much history a state directory keeps: a daemon over a thousand guests writes tens of
/// thousands of journal rows and events an hour, and the database must not grow without
/// bound. An unfinished step (what a crash left) is kept whatever its age.
public struct HistoryRetention: Sendable {
    public var journalSteps: Int
    public var events: Int
    public var passes: Int

    public init(journalSteps: Int = 200_000, events: Int = 50_000, passes: Int = 20_000) {
        self.journalSteps = journalSteps
        self.events = events
        self.passes = passes
    }

    public static let standard = HistoryRetention()
}

extension Store {
    /// Deletes the oldest finished journal steps, events and passes beyond `retention`.
    /// Cheap when there is nothing to delete (two index lookups a table); once a table holds
    /// a tenth more than it keeps, it is cut back to what it keeps, in one transaction.
    /// - Returns: how many rows were deleted.
    @discardableResult
    public func trimHistory(_ retention: HistoryRetention = .standard) throws -> Int {
        let tables = [("journal", retention.journalSteps, "outcome != 'intent'"),
                      ("events", retention.events, "1"),
                      // A pass some kept journal step belongs to stays (the step refers to it).
                      ("passes", retention.passes, "id < (SELECT coalesce(min(pass), 9223372036854775807) FROM journal)")]
        let due = try tables.filter { table, keep, _ in
            let span = try db.rows("SELECT coalesce(max(id) - min(id) + 1, 0) FROM \(table)").first?.first?.integer ?? 0
            return span > Int64(keep + keep / 10)
        }
        guard !due.isEmpty else { return 0 }
        return try db.inTransaction {
            var deleted = 0
            for (table, keep, condition) in due {
                try db.run("DELETE FROM \(table) WHERE id <= (SELECT max(id) FROM \(table)) - ? AND \(condition)", [.integer(Int64(keep))])
                deleted += db.changes
            }
            return (deleted, .commit)
        }
    }
}
