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
