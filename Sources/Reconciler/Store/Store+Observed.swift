import Foundation

/// Recorded observations: what the next pass may trust. A sandbox's balloon is a row of
/// its own (`observed_balloons`), written only when it changed; the rest of its
/// observation (`observed`), only when that changed.
extension Store {
    /// Replaces the recorded observation of every sandbox with `sandboxes`.
    /// - Parameter previous: what is recorded now (as `observedByName` read it): only the
    ///   differences are written, so a steady pass writes nothing. Nil rewrites every row.
    public func recordObserved(_ sandboxes: [ObservedSandbox], previous: [String: ObservedSandbox]? = nil) throws {
        let names = Set(sandboxes.map(\.name))
        let gone = previous.map { $0.keys.filter { !names.contains($0) } } ?? []
        var rows: [ObservedSandbox] = []
        var balloons: [(name: String, balloon: ObservedBalloon)] = []
        var noBalloon: [String] = []
        for sandbox in sandboxes {
            let old = previous?[sandbox.name]
            if previous != nil && old == sandbox { continue }
            var base = sandbox
            base.balloon = nil
            var oldBase = old
            oldBase?.balloon = nil
            if previous == nil || oldBase != base { rows.append(base) }
            // Not in `previous` (new, or its text no longer decodes): its balloon row too.
            if previous == nil || old == nil || old?.balloon != sandbox.balloon {
                if let balloon = sandbox.balloon { balloons.append((sandbox.name, balloon)) } else { noBalloon.append(sandbox.name) }
            }
        }
        guard previous == nil || !gone.isEmpty || !rows.isEmpty || !balloons.isEmpty || !noBalloon.isEmpty else { return }
        let rowTexts = try ParallelJSON.encode(rows).map { String(decoding: $0, as: UTF8.self) }
        let balloonTexts = try ParallelJSON.encode(balloons.map(\.balloon)).map { String(decoding: $0, as: UTF8.self) }
        let now = Clock.now
        try db.inTransaction {
            if previous == nil {
                try db.run("DELETE FROM observed WHERE kind = 'Sandbox'")
                try db.run("DELETE FROM observed_balloons WHERE kind = 'Sandbox'")
            }
            for name in gone {
                try db.run("DELETE FROM observed WHERE kind = 'Sandbox' AND name = ?", [.text(name)])
                try db.run("DELETE FROM observed_balloons WHERE kind = 'Sandbox' AND name = ?", [.text(name)])
            }
            for (row, json) in zip(rows, rowTexts) {
                try db.run("INSERT OR REPLACE INTO observed (kind, name, state_json, observed_at) VALUES ('Sandbox', ?, ?, ?)",
                           [.text(row.name), .text(json), .real(now)])
            }
            for (balloon, json) in zip(balloons, balloonTexts) {
                try db.run("INSERT OR REPLACE INTO observed_balloons (kind, name, balloon_json) VALUES ('Sandbox', ?, ?)",
                           [.text(balloon.name), .text(json)])
            }
            for name in noBalloon {
                try db.run("DELETE FROM observed_balloons WHERE kind = 'Sandbox' AND name = ?", [.text(name)])
            }
            return ((), .commit)
        }
    }

    /// The recorded observations by sandbox name (what the next pass may trust).
    public func observedByName() throws -> [String: ObservedSandbox] {
        Dictionary(try observedSandboxes().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func observedSandboxes() throws -> [ObservedSandbox] {
        let texts = try db.rows("""
            SELECT o.state_json, b.balloon_json FROM observed o LEFT JOIN observed_balloons b ON b.kind = o.kind AND b.name = o.name
            WHERE o.kind = 'Sandbox' ORDER BY o.name
            """).compactMap { row in
            row[0].text.map { base in row[1].text.map { Self.splice(key: "balloon", value: $0, into: base) } ?? base }
        }
        return ParallelJSON.decode(ObservedSandbox.self, texts)
    }

    /// `object` (a JSON object's text) with `"key":value` as its last member. Last, because
    /// JSONDecoder keeps the first of a repeated key: a row written whole by an earlier
    /// version (balloon inside) keeps its own.
    static func splice(key: String, value: String, into object: String) -> String {
        guard object.utf8.last == UInt8(ascii: "}") else { return object }
        let head = object.utf8.dropLast()
        let separator = head.last == UInt8(ascii: "{") ? "" : ","
        return String(Substring(head)) + separator + "\"\(key)\":\(value)}"
    }
}
