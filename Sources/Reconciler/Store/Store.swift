import Foundation
import Resources

/// The SQLite database of a state directory: last good specs, observed state, recorded
/// host effects, the action journal, events and conditions. One actor owns the
/// connection; every write that belongs together is one transaction.
public actor Store {
    /// Internal, not private: `Store+Concern.swift` extensions use it, inside the actor.
    let db: Connection
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
    private let decoder = JSONDecoder()
    /// Stored specs already decoded, by their JSON: a daemon reads every last good spec
    /// after every pass (for the status files), and they rarely change.
    private var decodedSpecs: [String: Resource] = [:]
    /// The conditions as last read, while this store (the writer: its process holds the
    /// state lock) has not written any since. A daemon reads them twice a pass.
    private var conditionsRead: [ResourceID: [Condition]]?
    /// This store opened the database for writing (its process holds the state lock): what
    /// it read stays true until it writes, so it may keep it.
    private let isWriter: Bool
    /// Bumped by every write of specs or conditions through this store: while it stays the
    /// same, so do `lastGoodSpecs()` and `conditions()` of the writer (its process holds the
    /// state lock, so no one else writes them).
    public private(set) var specsAndConditionsVersion = 0
    /// The spec headers as last read, at that version (the writer only, as the conditions).
    private var headersRead: (version: Int, headers: [ResourceID: SpecHeader])?
    /// Journal rows and events waiting for the next group commit (`Store+GroupCommit.swift`).
    var queuedWrites: [QueuedWrite] = []

    /// Opens or creates `path` and runs pending migrations.
    public init(path: String) throws {
        db = try Connection(path: path)
        try Migrations.migrate(db)
        isWriter = true
    }

    /// Opens an existing database for reading only (`get`, `status`, `events`, `plan`):
    /// never creates the file and never migrates; writes fail with SQLITE_READONLY.
    public init(readingAt path: String) throws {
        db = try Connection(path: path, readOnly: true)
        isWriter = false
    }

    // MARK: - Specs

    /// What is known of a stored spec without decoding it.
    public struct SpecHeader: Sendable, Equatable {
        public var file: String
        public var line: Int
        public var generation: Int
        public var hash: String
    }

    /// Records the specs of valid files as last good, bumping a resource's generation when
    /// its content changed. Returns every resource's generation.
    @discardableResult
    /// - Parameters:
    ///   - hashes: content hashes the caller has computed already.
    ///   - known: the stored headers, when the caller has just read them (nil reads them).
    public func recordSpecs(_ resources: [Resource], hashes: [ResourceID: String] = [:], known: [ResourceID: SpecHeader]? = nil) throws -> [ResourceID: Int] {
        let known = try known ?? specHeaders()
        return try db.inTransaction {
            var generations: [ResourceID: Int] = [:]
            for resource in resources {
                let hash = hashes[resource.id] ?? resource.contentHash
                let previous = known[resource.id]
                let generation = previous.map { $0.hash == hash ? $0.generation : $0.generation + 1 } ?? 1
                generations[resource.id] = generation
                if previous?.hash == hash && previous?.file == resource.origin.file && previous?.line == resource.origin.mark.line { continue }
                specsAndConditionsVersion += 1
                let json = String(decoding: try encoder.encode(resource), as: UTF8.self)
                try db.run("""
                    INSERT INTO specs (kind, name, file, line, generation, hash, resource_json, updated_at) VALUES (?,?,?,?,?,?,?,?)
                    ON CONFLICT(kind, name) DO UPDATE SET file=excluded.file, line=excluded.line, generation=excluded.generation,
                    hash=excluded.hash, resource_json=excluded.resource_json, updated_at=excluded.updated_at
                    """, [.text(resource.id.kind.rawValue), .text(resource.name), .text(resource.origin.file),
                          .integer(Int64(resource.origin.mark.line)), .integer(Int64(generation)), .text(hash), .text(json), .real(Clock.now)])
            }
            return (generations, .commit)
        }
    }

    /// File, line, generation and hash of every stored spec; cheap (no JSON decoding).
    public func specHeaders() throws -> [ResourceID: SpecHeader] {
        if isWriter, let headersRead, headersRead.version == specsAndConditionsVersion { return headersRead.headers }
        var result: [ResourceID: SpecHeader] = [:]
        for row in try db.rows("SELECT kind, name, file, line, generation, hash FROM specs") {
            guard let kind = row[0].text.flatMap(ResourceKind.init(rawValue:)), let name = row[1].text else { continue }
            result[ResourceID(kind, name)] = SpecHeader(file: row[2].text ?? "", line: Int(row[3].integer ?? 0),
                                                        generation: Int(row[4].integer ?? 1), hash: row[5].text ?? "")
        }
        if isWriter { headersRead = (specsAndConditionsVersion, result) }
        return result
    }

    /// The stored spec of one resource, decoded; nil when none is stored.
    /// - Throws: `StoredSpecUnreadable` when one is stored but no longer decodes (written by
    ///   another version, or damaged): never read as "no spec", which would mean "destroy".
    public func lastGoodSpec(_ id: ResourceID) throws -> StoredSpec? {
        guard let row = try db.rows("SELECT resource_json, generation, hash FROM specs WHERE kind = ? AND name = ?",
                                    [.text(id.kind.rawValue), .text(id.name)]).first else { return nil }
        do {
            let resource = try decoder.decode(Resource.self, from: Data((row[0].text ?? "").utf8))
            return StoredSpec(resource: resource, generation: Int(row[1].integer ?? 1), hash: row[2].text ?? "")
        } catch {
            throw StoredSpecUnreadable(id: id, reason: "\(error)")
        }
    }

    public func lastGoodSpecs() throws -> [ResourceID: StoredSpec] {
        var result: [ResourceID: StoredSpec] = [:]
        var decoded: [String: Resource] = [:]  // only what is stored now: a daemon's churn must not grow it
        defer { decodedSpecs = decoded }
        for row in try db.rows("SELECT resource_json, generation, hash FROM specs") {
            guard let json = row[0].text, let resource = decodedSpecs[json] ?? (try? decoder.decode(Resource.self, from: Data(json.utf8))) else { continue }
            decoded[json] = resource
            result[resource.id] = StoredSpec(resource: resource, generation: Int(row[1].integer ?? 1), hash: row[2].text ?? "")
        }
        return result
    }

    /// Forgets a resource that was destroyed because no spec names it.
    public func forget(_ id: ResourceID) throws {
        conditionsRead = nil
        specsAndConditionsVersion += 1
        try db.inTransaction {
            for table in ["specs", "observed", "observed_balloons", "applied", "conditions"] {
                try db.run("DELETE FROM \(table) WHERE kind = ? AND name = ?", [.text(id.kind.rawValue), .text(id.name)])
            }
            return ((), .commit)
        }
    }

    // MARK: - Observed state and recorded effects

    /// Records (or, with nil, removes) the applied spec of a resource whose effect is a record.
    public func setApplied(_ id: ResourceID, _ body: ResourceBody?) throws {
        if let body {
            try db.run("""
                INSERT INTO applied (kind, name, body_json, applied_at) VALUES (?,?,?,?)
                ON CONFLICT(kind, name) DO UPDATE SET body_json=excluded.body_json, applied_at=excluded.applied_at
                """, [.text(id.kind.rawValue), .text(id.name), .text(String(decoding: try encoder.encode(body), as: UTF8.self)), .real(Clock.now)])
        } else {
            try db.run("DELETE FROM applied WHERE kind = ? AND name = ?", [.text(id.kind.rawValue), .text(id.name)])
        }
    }

    public func applied(_ kind: ResourceKind) throws -> [String: AppliedRecord] {
        var result: [String: AppliedRecord] = [:]
        for row in try db.rows("SELECT name, body_json FROM applied WHERE kind = ?", [.text(kind.rawValue)]) {
            guard let name = row[0].text, let json = row[1].text,
                  let body = try? decoder.decode(ResourceBody.self, from: Data(json.utf8)) else { continue }
            result[name] = AppliedRecord(body: body)
        }
        return result
    }

    // MARK: - Passes and journal

    public func beginPass(command: String) throws -> Int64 {
        try db.run("INSERT INTO passes (command, started_at) VALUES (?, ?)", [.text(command), .real(Clock.now)])
        return db.lastInsertRowID
    }

    public func endPass(_ pass: Int64, outcome: String, actions: Int) throws {
        try db.run("UPDATE passes SET finished_at = ?, outcome = ?, actions = ? WHERE id = ?",
                   [.real(Clock.now), .text(outcome), .integer(Int64(actions)), .integer(pass)])
    }

    /// Journal rows as (resource, action, step, outcome), oldest first; for tests and `status`.
    public func journal(pass: Int64? = nil) throws -> [(id: ResourceID, action: String, step: String, outcome: String)] {
        let rows = try pass.map { try db.rows("SELECT kind, name, action, step, outcome FROM journal WHERE pass = ? ORDER BY id", [.integer($0)]) }
            ?? db.rows("SELECT kind, name, action, step, outcome FROM journal ORDER BY id")
        return rows.compactMap { r in
            guard let kind = r[0].text.flatMap(ResourceKind.init(rawValue:)), let name = r[1].text else { return nil }
            return (ResourceID(kind, name), r[2].text ?? "", r[3].text ?? "", r[4].text ?? "")
        }
    }

    /// Finished journal rows started at or after `since` (a `Clock.now`), oldest first, with
    /// how long each step took; for the benchmarks' per-step breakdown.
    public func journalTimings(since: Double) throws -> [(id: ResourceID, step: String, seconds: Double)] {
        try db.rows("SELECT kind, name, step, finished_at - started_at FROM journal WHERE started_at >= ? AND finished_at IS NOT NULL ORDER BY id",
                    [.real(since)]).compactMap { r in
            guard let kind = r[0].text.flatMap(ResourceKind.init(rawValue:)), let name = r[1].text, let step = r[2].text else { return nil }
            return (ResourceID(kind, name), step, r[3].real ?? 0)
        }
    }

    /// Steps whose intent was written but whose outcome never was: a crash happened there.
    public func unfinishedSteps() throws -> Int {
        Int(try db.rows("SELECT count(*) FROM journal WHERE outcome = 'intent'").first?.first?.integer ?? 0)
    }

    public func closeUnfinishedSteps() throws {
        try db.run("UPDATE journal SET outcome = 'interrupted', finished_at = ? WHERE outcome = 'intent'", [.real(Clock.now)])
    }

    // MARK: - Events and conditions

    /// The most recent events, oldest first; only those of `kind` and `name` when given.
    public func events(kind: ResourceKind? = nil, name: String? = nil, limit: Int = 100) throws -> [Event] {
        let filters = [kind.map { ("kind = ?", SQLValue.text($0.rawValue)) }, name.map { ("name = ?", SQLValue.text($0)) }].compactMap { $0 }
        let clause = filters.isEmpty ? "" : "WHERE " + filters.map(\.0).joined(separator: " AND ")
        let sql = "SELECT at, kind, name, type, reason, message FROM events \(clause) ORDER BY id DESC LIMIT ?"
        let values: [SQLValue] = filters.map(\.1) + [.integer(Int64(limit))]
        return try db.rows(sql, values).reversed().compactMap { r in
            guard case .real(let at) = r[0], let kind = r[1].text.flatMap(ResourceKind.init(rawValue:)), let name = r[2].text,
                  let type = r[3].text.flatMap(Event.Severity.init(rawValue:)) else { return nil }
            return Event(at: at, id: ResourceID(kind, name), type: type, reason: r[4].text ?? "", message: r[5].text ?? "")
        }
    }

    /// Sets a condition; `changedAt` moves only when its status flips.
    public func setCondition(_ id: ResourceID, _ condition: Condition) throws {
        try writeCondition(id, condition)
    }

    /// Sets many conditions in one transaction (one commit instead of one per row); rows that
    /// say what they said already are not written again (a steady pass writes nothing).
    public func setConditions(_ conditions: [(ResourceID, Condition)]) throws {
        let current = try self.conditions()
        let changed = conditions.filter { id, condition in
            guard let old = current[id]?.first(where: { $0.type == condition.type }) else { return true }
            return old.status != condition.status || old.reason != condition.reason || old.message != condition.message
                || old.observedGeneration != condition.observedGeneration
        }
        guard !changed.isEmpty else { return }
        try db.inTransaction {
            for (id, condition) in changed { try writeCondition(id, condition) }
            return ((), .commit)
        }
    }

    private func writeCondition(_ id: ResourceID, _ condition: Condition) throws {
        conditionsRead = nil
        specsAndConditionsVersion += 1
        try db.run("""
            INSERT INTO conditions (kind, name, type, status, reason, message, observed_generation, changed_at) VALUES (?,?,?,?,?,?,?,?)
            ON CONFLICT(kind, name, type) DO UPDATE SET reason=excluded.reason, message=excluded.message,
            observed_generation=excluded.observed_generation,
            changed_at=CASE WHEN conditions.status = excluded.status THEN conditions.changed_at ELSE excluded.changed_at END,
            status=excluded.status
            """, [.text(id.kind.rawValue), .text(id.name), .text(condition.type), .text(condition.status ? "True" : "False"),
                  .text(condition.reason), .text(condition.message), .integer(Int64(condition.observedGeneration)), .real(condition.changedAt)])
    }

    public func conditions() throws -> [ResourceID: [Condition]] {
        if let conditionsRead { return conditionsRead }
        var result: [ResourceID: [Condition]] = [:]
        for r in try db.rows("SELECT kind, name, type, status, reason, message, observed_generation, changed_at FROM conditions ORDER BY kind, name, type") {
            guard let kind = r[0].text.flatMap(ResourceKind.init(rawValue:)), let name = r[1].text, case .real(let at) = r[7] else { continue }
            result[ResourceID(kind, name), default: []].append(Condition(
                type: r[2].text ?? "", status: r[3].text == "True", reason: r[4].text ?? "", message: r[5].text ?? "",
                observedGeneration: Int(r[6].integer ?? 0), changedAt: at))
        }
        if isWriter { conditionsRead = result }
        return result
    }
}

/// A stored last good spec that no longer decodes.
public struct StoredSpecUnreadable: Error, Sendable, CustomStringConvertible {
    public var id: ResourceID
    public var reason: String
    public var description: String { "the stored last good spec of \(id) cannot be read (\(reason))" }
}
