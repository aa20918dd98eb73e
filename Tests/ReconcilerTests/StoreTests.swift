import Foundation
import Reconciler
import Resources
import TestSupport
import Testing

@Suite("SQLite store")
struct StoreTests {
    @Test("migrations run once; reopening keeps the data")
    func reopen() async throws {
        let dir = TemporaryDirectory("converge-store")
        let path = "\(dir.path)/converge.db"
        do {
            let store = try Store(path: path)
            try await store.recordSpecs([Build.sandbox("a")])
        }
        let again = try Store(path: path)
        #expect(try await again.lastGoodSpecs().keys.map(\.name) == ["a"])
    }

    @Test("generation moves only when the content changes")
    func generations() async throws {
        let dir = TemporaryDirectory("converge-store")
        let store = try Store(path: "\(dir.path)/converge.db")
        #expect(try await store.recordSpecs([Build.sandbox("a")])[ResourceID(.sandbox, "a")] == 1)
        #expect(try await store.recordSpecs([Build.sandbox("a")])[ResourceID(.sandbox, "a")] == 1)
        #expect(try await store.recordSpecs([Build.sandbox("a", cpus: 4)])[ResourceID(.sandbox, "a")] == 2)
        let stored = try await store.lastGoodSpecs()[ResourceID(.sandbox, "a")]
        #expect(stored?.resource.sandbox?.cpus == 4)
    }

    @Test("an unfinished step is visible and can be closed")
    func unfinished() async throws {
        let dir = TemporaryDirectory("converge-store")
        let store = try Store(path: "\(dir.path)/converge.db")
        let pass = try await store.beginPass(command: "apply")
        _ = try await store.journalIntent(pass: pass, id: ResourceID(.sandbox, "a"), action: "create", step: "ch.spawn")
        #expect(try await store.unfinishedSteps() == 1)
        try await store.closeUnfinishedSteps()
        #expect(try await store.unfinishedSteps() == 0)
        #expect(try await store.journal().map(\.outcome) == ["interrupted"])
    }

    @Test("conditions keep their transition time while the status holds")
    func conditions() async throws {
        let dir = TemporaryDirectory("converge-store")
        let store = try Store(path: "\(dir.path)/converge.db")
        let id = ResourceID(.sandbox, "a")
        try await store.setCondition(id, Condition(type: "Ready", status: true, reason: "Converged", message: "", observedGeneration: 1, changedAt: 100))
        try await store.setCondition(id, Condition(type: "Ready", status: true, reason: "Converged", message: "", observedGeneration: 2, changedAt: 200))
        #expect(try await store.conditions()[id]?.first?.changedAt == 100)
        try await store.setCondition(id, Condition(type: "Ready", status: false, reason: "ActionFailed", message: "x", observedGeneration: 2, changedAt: 300))
        let c = try await store.conditions()[id]?.first
        #expect(c?.changedAt == 300 && c?.status == false && c?.observedGeneration == 2)
    }

    @Test("events come back oldest first, filtered by name")
    func events() async throws {
        let dir = TemporaryDirectory("converge-store")
        let store = try Store(path: "\(dir.path)/converge.db")
        for i in 0..<5 {
            try await store.record(Event(at: Double(i), id: ResourceID(.sandbox, i % 2 == 0 ? "a" : "b"), type: .normal, reason: "R\(i)", message: ""))
        }
        #expect(try await store.events(name: "a").map(\.reason) == ["R0", "R2", "R4"])
        #expect(try await store.events(limit: 2).map(\.reason) == ["R3", "R4"])
    }

    @Test("observations read back as recorded when only their balloons change, pass after pass, and when the rest changes too")
    func observationsWithBalloons() async throws {
        let dir = TemporaryDirectory("converge-store")
        let store = try Store(path: "\(dir.path)/converge.db")
        var sandboxes = (0..<3).map { i in
            var s = Build.observed(Build.sandbox("s\(i)", memory: .gibibytes(2)))
            s.balloon = ObservedBalloon(allocated: .gibibytes(2), size: .mebibytes(256), target: .mebibytes(256), guestUsed: .mebibytes(300))
            return s
        }
        sandboxes.append(Build.observed(Build.sandbox("plain")))
        try await store.recordObserved(sandboxes)
        var recorded = try await store.observedByName()
        #expect(recorded == Dictionary(uniqueKeysWithValues: sandboxes.map { ($0.name, $0) }))
        for round in 1...3 {
            // A balloon pass: only the targets move.
            for i in 0..<3 { sandboxes[i].balloon?.target = .mebibytes(256 + 64 * Int64(round)) }
            // And now and then something else about one of them.
            if round == 2 { sandboxes[1].liveCpus = 3; sandboxes[1].balloon = nil }
            if round == 3 { sandboxes[3].balloon = ObservedBalloon(allocated: .gibibytes(1), size: Quantity(bytes: 0), unavailable: "no agent") }
            try await store.recordObserved(sandboxes, previous: recorded)
            recorded = try await store.observedByName()
            #expect(recorded == Dictionary(uniqueKeysWithValues: sandboxes.map { ($0.name, $0) }), "round \(round)")
        }
        // A new store (another process) reads the same.
        #expect(try await Store(path: "\(dir.path)/converge.db").observedByName() == recorded)
        // A sandbox missing from what was read (its text did not decode) loses its old
        // balloon row when it is written again without one.
        sandboxes[0].balloon = nil
        recorded[sandboxes[0].name] = nil
        try await store.recordObserved(sandboxes, previous: recorded)
        #expect(try await store.observedByName()[sandboxes[0].name] == sandboxes[0])
    }
}

@Suite("Backoff")
struct BackoffTests {
    @Test("delays double per failure up to the cap, with bounded jitter, and reset on success")
    func doubling() {
        var b = Backoff(base: 1, cap: 8, jitter: 0, random: { 0.5 })
        let id = ResourceID(.sandbox, "a")
        #expect([b.failed(id, now: 0), b.failed(id, now: 0), b.failed(id, now: 0), b.failed(id, now: 0), b.failed(id, now: 0)] == [1, 2, 4, 8, 8])
        #expect(b.waiting(now: 7.9) == [id] && b.waiting(now: 8.1).isEmpty)
        #expect(b.nextRetry(after: 0) == 8)
        b.succeeded(id)
        #expect(b.failureCount(id) == 0 && b.waiting(now: 0).isEmpty)
        var j = Backoff(base: 10, cap: 100, jitter: 0.2, random: { 1.0 })
        #expect(abs(j.failed(id, now: 0) - 12) < 1e-9)
    }
}
