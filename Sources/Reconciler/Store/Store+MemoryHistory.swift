/// Memory history: one row per sandbox per balloon-loop pass (at most one per
/// `MemoryRetention.minimumInterval`), kept for `MemoryRetention.maximumAge` and at most
/// `maximumPerSandbox` rows per sandbox.
extension Store {
    /// Records the memory of every sandbox in `observed` that has a balloon, then drops what
    /// retention no longer keeps; one transaction.
    /// - Parameters:
    ///   - observed: one pass's sandboxes; those without a balloon are skipped.
    ///   - at: the time of the pass, seconds since 1970.
    ///   - retention: how much to keep and how often to write.
    /// - Returns: how many samples were written (those sampled too recently are not).
    @discardableResult
    public func recordMemorySamples(_ observed: [ObservedSandbox], at: Double,
                                    retention: MemoryRetention = .standard) throws -> Int {
        let samples = observed.compactMap { MemorySample($0, at: at) }
        return try db.inTransaction {
            let latest = try db.prepare("SELECT at FROM memory_samples WHERE name = ? ORDER BY id DESC LIMIT 1")
            let insert = try db.prepare("""
                INSERT INTO memory_samples (name, at, allocated_bytes, used_bytes, balloon_bytes, reclaimed_bytes)
                VALUES (?,?,?,?,?,?)
                """)
            let trim = try db.prepare("""
                DELETE FROM memory_samples WHERE name = ?1 AND id <= (
                    SELECT id FROM memory_samples WHERE name = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                """)
            var written = 0
            for s in samples {
                try latest.bind([.text(s.name)])
                var previous: Double?
                if try latest.step(), case .real(let t) = latest.row()[0] { previous = t }
                try latest.reset()
                // Both ways: after the wall clock steps back, `at` is before the last sample.
                if let previous, abs(at - previous) < retention.minimumInterval { continue }
                try insert.bind([.text(s.name), .real(s.at), .integer(s.allocated), s.used.map(SQLValue.integer) ?? .null,
                                 .integer(s.balloon), .integer(s.reclaimed)])
                while try insert.step() {}
                try insert.reset()
                try trim.bind([.text(s.name), .integer(Int64(max(0, retention.maximumPerSandbox)))])
                while try trim.step() {}
                try trim.reset()
                written += 1
            }
            try db.run("DELETE FROM memory_samples WHERE at < ?", [.real(at - retention.maximumAge)])
            return (written, .commit)
        }
    }

    /// Stored samples, by sandbox name then time.
    /// - Parameters:
    ///   - name: only this sandbox's; every sandbox's when nil.
    ///   - since: only samples at or after this time (seconds since 1970).
    /// - Returns: empty, too, for a database written before memory history existed (a
    ///   read-only store never migrates).
    public func memoryHistory(name: String? = nil, since: Double? = nil) throws -> [MemorySample] {
        guard try hasMemoryHistoryTable() else { return [] }
        let filters = [name.map { ("name = ?", SQLValue.text($0)) }, since.map { ("at >= ?", SQLValue.real($0)) }].compactMap { $0 }
        let clause = filters.isEmpty ? "" : "WHERE " + filters.map(\.0).joined(separator: " AND ")
        let sql = "SELECT name, at, allocated_bytes, used_bytes, balloon_bytes, reclaimed_bytes FROM memory_samples \(clause) ORDER BY name, at, id"
        return try db.rows(sql, filters.map(\.1)).compactMap { r in
            guard let name = r[0].text, case .real(let at) = r[1], let allocated = r[2].integer,
                  let balloon = r[4].integer, let reclaimed = r[5].integer else { return nil }
            return MemorySample(name: name, at: at, allocated: allocated, used: r[3].integer, balloon: balloon, reclaimed: reclaimed)
        }
    }

    /// The names of the sandboxes with samples, sorted; cheap (the name index alone).
    public func memoryHistoryNames() throws -> [String] {
        guard try hasMemoryHistoryTable() else { return [] }
        return try db.rows("SELECT DISTINCT name FROM memory_samples ORDER BY name").compactMap { $0[0].text }
    }

    // MARK: - Helpers

    private func hasMemoryHistoryTable() throws -> Bool {
        try !db.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_samples'").isEmpty
    }
}
