import CSQLite
import Foundation
import Reconciler
import Resources
import TestSupport
import Testing

@Suite("memory history")
struct MemoryHistoryTests {
    /// A running sandbox whose balloon holds `balloon` of `allocated`, the guest using `used`.
    static func sandbox(_ name: String, allocated: Quantity = .gibibytes(8), used: Quantity? = .gibibytes(2),
                        balloon: Quantity = .gibibytes(4), target: Quantity? = nil) -> ObservedSandbox {
        var s = Build.observed(Build.sandbox(name, memory: allocated))
        s.balloon = ObservedBalloon(allocated: allocated, size: balloon, target: target, guestUsed: used)
        return s
    }

    static func store() throws -> (TemporaryDirectory, Store) {
        let dir = TemporaryDirectory("converge-memory")
        return (dir, try Store(path: "\(dir.path)/converge.db"))
    }

    @Test("a pass records one sample per sandbox with a balloon, with every figure in bytes, and skips the others")
    func records() async throws {
        let (_, store) = try Self.store()
        let noBalloon = Build.observed(Build.sandbox("off"))
        let silent = Self.sandbox("silent", used: nil, balloon: .mebibytes(512), target: .gibibytes(1))
        let written = try await store.recordMemorySamples([Self.sandbox("web"), noBalloon, silent], at: 1_000)
        #expect(written == 2)
        let samples = try await store.memoryHistory()
        #expect(samples == [
            MemorySample(name: "silent", at: 1_000, allocated: 8 << 30, used: nil, balloon: 1 << 30, reclaimed: 512 << 20),
            MemorySample(name: "web", at: 1_000, allocated: 8 << 30, used: 2 << 30, balloon: 4 << 30, reclaimed: 4 << 30),
        ])
    }

    @Test("a sandbox sampled less than the minimum interval ago is not sampled again, whichever way the clock moved")
    func minimumInterval() async throws {
        let (_, store) = try Self.store()
        let retention = MemoryRetention(minimumInterval: 5)
        #expect(try await store.recordMemorySamples([Self.sandbox("a")], at: 100, retention: retention) == 1)
        #expect(try await store.recordMemorySamples([Self.sandbox("a"), Self.sandbox("b")], at: 104, retention: retention) == 1)
        #expect(try await store.recordMemorySamples([Self.sandbox("a")], at: 97, retention: retention) == 0)
        #expect(try await store.recordMemorySamples([Self.sandbox("a"), Self.sandbox("b")], at: 105, retention: retention) == 1)
        #expect(try await store.memoryHistory().map { "\($0.name)@\(Int($0.at))" } == ["a@100", "a@105", "b@104"])
    }

    @Test("samples older than the retention window are deleted, of every sandbox, also those no longer observed")
    func maximumAge() async throws {
        let (_, store) = try Self.store()
        let retention = MemoryRetention(maximumAge: 3_600, minimumInterval: 5)
        try await store.recordMemorySamples([Self.sandbox("gone"), Self.sandbox("a")], at: 1_000, retention: retention)
        try await store.recordMemorySamples([Self.sandbox("a")], at: 3_000, retention: retention)
        try await store.recordMemorySamples([Self.sandbox("a")], at: 4_601, retention: retention)
        #expect(try await store.memoryHistory().map { "\($0.name)@\(Int($0.at))" } == ["a@3000", "a@4601"])
    }

    @Test("at most the newest N samples are kept per sandbox; another sandbox's are not touched")
    func maximumCount() async throws {
        let (_, store) = try Self.store()
        let retention = MemoryRetention(maximumPerSandbox: 3, minimumInterval: 5)
        for i in 0..<6 {
            try await store.recordMemorySamples([Self.sandbox("a", used: .mebibytes(Int64(i)))] + (i < 2 ? [Self.sandbox("b")] : []),
                                                at: Double(i * 10), retention: retention)
        }
        let a = try await store.memoryHistory(name: "a")
        #expect(a.map(\.at) == [30, 40, 50])
        #expect(a.map(\.used) == [3 << 20, 4 << 20, 5 << 20])
        #expect(try await store.memoryHistory(name: "b").count == 2)
    }

    @Test("history is asked by sandbox name and by start time, in time order")
    func query() async throws {
        let (_, store) = try Self.store()
        for t in [10.0, 20, 30] { try await store.recordMemorySamples([Self.sandbox("a"), Self.sandbox("b")], at: t) }
        #expect(try await store.memoryHistory(name: "b").map(\.at) == [10, 20, 30])
        #expect(try await store.memoryHistory(name: "b").allSatisfy { $0.name == "b" })
        #expect(try await store.memoryHistory(name: "a", since: 20).map(\.at) == [20, 30])
        #expect(try await store.memoryHistory(since: 30).map(\.name) == ["a", "b"])
        #expect(try await store.memoryHistory(name: "nobody").isEmpty)
    }

    @Test("a database written before memory history existed reads as an empty history, read-only")
    func olderDatabase() async throws {
        let dir = TemporaryDirectory("converge-memory")
        let path = "\(dir.path)/converge.db"
        do { _ = try Store(path: path) }
        try Self.dropHistoryTable(path)
        let reader = try Store(readingAt: path)
        #expect(try await reader.memoryHistory().isEmpty)
    }

    @Test("apply records the memory of every sandbox it observes with a balloon")
    func applyRecords() async throws {
        let rig = try ReconcilerTests.Rig()
        let specs = Build.specSet([Build.sandbox("a", memory: .gibibytes(8), policy: "p"), Build.policy("p", buffer: .gibibytes(1))])
        _ = try await rig.reconciler.apply(specs)
        await rig.runtime.setGuest("a", used: .mebibytes(512))
        _ = try await rig.reconciler.apply(specs)
        // The second apply observes several times within the minimum interval: one sample.
        let samples = try await rig.store.memoryHistory(name: "a")
        #expect(samples.count == 1)
        #expect(samples.first?.allocated == 8 << 30)
        #expect(samples.first?.used == 512 << 20)
    }

    /// Makes `path` look like a database of the version before memory history.
    static func dropHistoryTable(_ path: String) throws {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK,
              sqlite3_exec(db, "DROP TABLE memory_samples; DELETE FROM migrations WHERE version = 2", nil, nil, nil) == SQLITE_OK
        else { throw FakeFailure(call: "drop memory_samples in \(path)") }
    }
}
