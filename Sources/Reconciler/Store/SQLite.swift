internal import CSQLite

/// A failed SQLite call: the result code, SQLite's message and the statement (never
/// the bound values, which may hold user data).
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var sql: String?

    public var description: String { "SQLite error \(code): \(message)" + (sql.map { " (in: \($0))" } ?? "") }
}

/// One database connection. Not Sendable on purpose: it lives inside the `Store` actor.
final class Connection {
    private let handle: OpaquePointer

    /// Opens (creating) the database at `path` in WAL mode with foreign keys and a busy
    /// timeout, since the CLI and the daemon may both open it. `readOnly` never creates
    /// the file and never writes to it (the journal mode is already recorded in it).
    init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let mode = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        let rc = sqlite3_open_v2(path, &db, mode | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)  // closes even a failed open
            throw SQLiteError(code: rc, message: "\(message) (\(path))", sql: nil)
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
        if readOnly { return }
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA synchronous=NORMAL")
    }

    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "error"
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message, sql: sql)
        }
    }

    func prepare(_ sql: String) throws -> Statement { try Statement(db: handle, sql: sql) }

    /// Statements by their SQL, prepared once per connection: a pass runs the same few
    /// statements thousands of times.
    private var statements: [String: Statement] = [:]

    private func cached(_ sql: String) throws -> Statement {
        if let statement = statements[sql] { return statement }
        let statement = try prepare(sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` with `values` bound in order and steps it to the end.
    func run(_ sql: String, _ values: [SQLValue] = []) throws {
        let statement = try cached(sql)
        defer { try? statement.reset() }
        try statement.bind(values)
        while try statement.step() {}
    }

    /// Every row of a query, each as its column values.
    func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [[SQLValue]] {
        let statement = try cached(sql)
        defer { try? statement.reset() }
        try statement.bind(values)
        var result: [[SQLValue]] = []
        while try statement.step() { result.append(statement.row()) }
        return result
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }

    enum TransactionEnd { case commit, rollback }

    /// Runs `body` in a transaction; rolls back and rethrows if it throws.
    func inTransaction<T>(_ body: () throws -> (T, TransactionEnd)) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let (value, end) = try body()
            try execute(end == .commit ? "COMMIT" : "ROLLBACK")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

@available(*, unavailable) extension Connection: Sendable {}

/// A value bound to or read from a statement.
enum SQLValue: Equatable {
    case null, integer(Int64), real(Double), text(String)

    var text: String? { if case .text(let s) = self { s } else { nil } }
    var integer: Int64? { if case .integer(let i) = self { i } else { nil } }
    var real: Double? { if case .real(let d) = self { d } else if case .integer(let i) = self { Double(i) } else { nil } }
}

/// A prepared statement, finalized in `deinit`.
final class Statement {
    private let handle: OpaquePointer

    init(db: OpaquePointer, sql: String) throws {
        var h: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &h, nil)
        guard rc == SQLITE_OK, let h else { throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql) }
        handle = h
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ values: [SQLValue]) throws {
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32 = switch value {
            case .null: sqlite3_bind_null(handle, index)
            case .integer(let v): sqlite3_bind_int64(handle, index, v)
            case .real(let v): sqlite3_bind_double(handle, index, v)
            case .text(let v): sqlite3_bind_text(handle, index, v, -1, csqlite_transient())
            }
            try check(rc)
        }
    }

    /// Makes the statement ready to run again with new values (a reused INSERT).
    func reset() throws {
        try check(sqlite3_reset(handle))
        try check(sqlite3_clear_bindings(handle))
    }

    /// Advances; true while there is a row.
    func step() throws -> Bool { try check(sqlite3_step(handle)) == SQLITE_ROW }

    /// Copies the current row into Swift values before the next step.
    func row() -> [SQLValue] {
        (0..<sqlite3_column_count(handle)).map { i in
            switch sqlite3_column_type(handle, i) {
            case SQLITE_INTEGER: .integer(sqlite3_column_int64(handle, i))
            case SQLITE_FLOAT: .real(sqlite3_column_double(handle, i))
            case SQLITE_NULL: .null
            default: .text(sqlite3_column_text(handle, i).map { String(cString: $0) } ?? "")
            }
        }
    }

    @discardableResult
    private func check(_ rc: Int32) throws -> Int32 {
        guard rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE else {
            let db = sqlite3_db_handle(handle)
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sqlite3_sql(handle).map { String(cString: $0) })
        }
        return rc
    }
}

@available(*, unavailable) extension Statement: Sendable {}
