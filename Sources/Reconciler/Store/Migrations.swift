/// Numbered schema migrations; each runs once, in order, recorded in `migrations`.
enum Migrations {
    static let all: [(version: Int, sql: String)] = [
        (1, """
        CREATE TABLE specs (
            kind TEXT NOT NULL, name TEXT NOT NULL,
            file TEXT NOT NULL, line INTEGER NOT NULL,
            generation INTEGER NOT NULL, hash TEXT NOT NULL,
            resource_json TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (kind, name));
        CREATE TABLE observed (
            kind TEXT NOT NULL, name TEXT NOT NULL,
            state_json TEXT NOT NULL, observed_at REAL NOT NULL,
            PRIMARY KEY (kind, name));
        CREATE TABLE applied (
            kind TEXT NOT NULL, name TEXT NOT NULL,
            body_json TEXT NOT NULL, applied_at REAL NOT NULL,
            PRIMARY KEY (kind, name));
        CREATE TABLE passes (
            id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL,
            started_at REAL NOT NULL, finished_at REAL, outcome TEXT, actions INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT, pass INTEGER NOT NULL REFERENCES passes(id),
            kind TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL, step TEXT NOT NULL,
            started_at REAL NOT NULL, finished_at REAL, outcome TEXT NOT NULL DEFAULT 'intent', error TEXT);
        CREATE INDEX journal_resource ON journal(kind, name);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
            kind TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
            reason TEXT NOT NULL, message TEXT NOT NULL);
        CREATE INDEX events_name ON events(name);
        CREATE TABLE conditions (
            kind TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
            status TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
            observed_generation INTEGER NOT NULL, changed_at REAL NOT NULL,
            PRIMARY KEY (kind, name, type));
        """),
        // Memory history for `converge stats memory`. `id` orders samples as written, which
        // survives a wall clock stepped backwards; an index on `name` alone keeps its entries
        // in (name, id) order, so "newest of a sandbox" is one index seek.
        (2, """
        CREATE TABLE memory_samples (
            id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, at REAL NOT NULL,
            allocated_bytes INTEGER NOT NULL, used_bytes INTEGER,
            balloon_bytes INTEGER NOT NULL, reclaimed_bytes INTEGER NOT NULL);
        CREATE INDEX memory_samples_name ON memory_samples(name);
        CREATE INDEX memory_samples_at ON memory_samples(at);
        """),
        // History retention keeps a pass while a kept journal step belongs to it: the oldest
        // such pass is one index seek, not a scan of 200,000 steps at the end of every pass.
        (3, """
        CREATE INDEX journal_pass ON journal(pass);
        """),
        // A sandbox's observed balloon changes every balloon pass and the rest of its
        // observation rarely: kept apart, a pass over a thousand guests rewrites a few pages
        // of small rows, not every page of the big ones. Observations are a cache of what
        // the host says, so those recorded before (balloons inside) are dropped: the next
        // pass asks every VMM, as at a resync.
        (4, """
        CREATE TABLE observed_balloons (
            kind TEXT NOT NULL, name TEXT NOT NULL, balloon_json TEXT NOT NULL,
            PRIMARY KEY (kind, name));
        DELETE FROM observed;
        """),
        // No query reads the journal by resource; the index cost every step's intent a
        // random page of its own in the commit (a balloon pass journals a thousand).
        (5, """
        DROP INDEX IF EXISTS journal_resource;
        """),
    ]

    static func migrate(_ db: Connection) throws {
        try db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let done = Set(try db.rows("SELECT version FROM migrations").compactMap { $0.first?.integer })
        for migration in all where !done.contains(Int64(migration.version)) {
            try db.inTransaction {
                try db.execute(migration.sql)
                try db.run("INSERT INTO migrations (version, applied_at) VALUES (?, ?)",
                           [.integer(Int64(migration.version)), .real(Clock.now)])
                return ((), .commit)
            }
        }
    }
}
