import Foundation
import Reconciler
import Resources
import TestSupport
import Testing

/// Journal rows and events written at once share commits, and each caller returns only
/// once its own row is committed: another connection sees it.
@Suite("Store: group commit of journal rows and events")
struct GroupCommitTests {
    @Test("two hundred steps journaled at once get distinct rows, each committed when its call returns")
    func concurrentSteps() async throws {
        let dir = TemporaryDirectory("converge-group-commit")
        let path = "\(dir.path)/converge.db"
        let store = try Store(path: path)
        let pass = try await store.beginPass(command: "apply")
        let rows = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let id = ResourceID(.sandbox, "s\(i)")
                    let row = try await store.journalIntent(pass: pass, id: id, action: "balloon", step: "ch.vm.balloon")
                    // Committed: a reader on its own connection already sees the intent.
                    let seen = try await Store(readingAt: path).journal(pass: pass)
                    #expect(seen.contains { $0.id == id && $0.outcome == "intent" }, "the intent of \(id) was not committed when its call returned")
                    try await store.journalOutcome(row, error: nil)
                    try await store.record(Event(id: id, type: .normal, reason: "BalloonResized", message: "to 1Gi"))
                    return row
                }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(Set(rows).count == 200)
        let reader = try Store(readingAt: path)
        let journal = try await reader.journal(pass: pass)
        #expect(journal.count == 200 && journal.allSatisfy { $0.outcome == "done" })
        #expect(try await reader.events(limit: 1000).count == 200)
    }

    @Test("a batch that cannot be written fails every call in it, and the next batch is written")
    func failedBatch() async throws {
        let dir = TemporaryDirectory("converge-group-commit")
        let path = "\(dir.path)/converge.db"
        let writer = try Store(path: path)
        let pass = try await writer.beginPass(command: "apply")
        let reader = try Store(readingAt: path)
        await #expect(throws: (any Error).self) {
            _ = try await reader.journalIntent(pass: pass, id: ResourceID(.sandbox, "a"), action: "create", step: "ch.spawn")
        }
        _ = try await writer.journalIntent(pass: pass, id: ResourceID(.sandbox, "b"), action: "create", step: "ch.spawn")
        #expect(try await reader.journal(pass: pass).map(\.id.name) == ["b"])
    }
}

/// History is kept within bounds: the oldest finished steps, events and passes go; an
/// unfinished step and the pass it belongs to stay.
@Suite("Store: history retention")
struct HistoryRetentionTests {
    @Test("past a tenth over what it keeps, each table is cut back; unfinished steps and their passes stay")
    func trims() async throws {
        let dir = TemporaryDirectory("converge-retention")
        let store = try Store(path: "\(dir.path)/converge.db")
        let retention = HistoryRetention(journalSteps: 10, events: 5, passes: 3)
        let first = try await store.beginPass(command: "apply")
        _ = try await store.journalIntent(pass: first, id: ResourceID(.sandbox, "crashed"), action: "create", step: "ch.spawn")
        for i in 0..<9 {
            let pass = try await store.beginPass(command: "apply")
            for j in 0..<3 {
                let row = try await store.journalIntent(pass: pass, id: ResourceID(.sandbox, "s\(i)-\(j)"), action: "create", step: "ch.spawn")
                try await store.journalOutcome(row, error: nil)
                try await store.record(Event(id: ResourceID(.sandbox, "s\(i)-\(j)"), type: .normal, reason: "Created", message: ""))
            }
            try await store.endPass(pass, outcome: "converged", actions: 3)
        }
        #expect(try await store.trimHistory(retention) > 0)
        let journal = try await store.journal()
        #expect(journal.contains { $0.id.name == "crashed" && $0.outcome == "intent" }, "an unfinished step was deleted")
        #expect(journal.count == 11, "10 finished steps and the unfinished one: \(journal.count)")
        #expect(try await store.events(limit: 100).count == 5)
        #expect(try await store.trimHistory(retention) == 0, "nothing more to delete within the slack")
    }

    @Test("under its bounds nothing is deleted")
    func keepsWithinBounds() async throws {
        let dir = TemporaryDirectory("converge-retention")
        let store = try Store(path: "\(dir.path)/converge.db")
        let pass = try await store.beginPass(command: "apply")
        for i in 0..<5 { try await store.record(Event(id: ResourceID(.sandbox, "s\(i)"), type: .normal, reason: "Created", message: "")) }
        #expect(try await store.trimHistory(HistoryRetention(journalSteps: 10, events: 5, passes: 3)) == 0)
        #expect(try await store.events(limit: 100).count == 5)
        _ = pass
    }
}
