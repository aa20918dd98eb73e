import CSQLite
import Foundation
import Reconciler
import Resources
import TestSupport
import Testing

@Suite("Reconciler with fake drivers")
struct ReconcilerTests {
    struct Rig {
        let dir = TemporaryDirectory("converge-rec")
        let runtime: FakeRuntime
        let network = FakeNetwork()
        let snapshots = FakeSnapshots()
        let store: Store
        let reconciler: Reconciler
        var databasePath: String { "\(dir.path)/converge.db" }

        init(_ sandboxes: [ObservedSandbox] = []) throws {
            runtime = FakeRuntime(sandboxes: sandboxes)
            store = try Store(path: "\(dir.path)/converge.db")
            reconciler = Reconciler(store: store, runtimes: [runtime], network: network, snapshots: snapshots, defaults: HostDefaults())
        }
    }

    @Test("apply converges, then the next plan is empty")
    func converges() async throws {
        let rig = try Rig()
        let specs = Build.specSet([Build.sandbox("a", pool: "net"), Build.sandbox("b", state: .paused), Build.pool("net"), Build.policy("p")])
        let report = try await rig.reconciler.apply(specs)
        #expect(report.converged)
        #expect(try await rig.reconciler.plan(specs).plan.isEmpty)
        #expect(await rig.runtime.sandboxes["b"]?.vm == .paused)
    }

    @Test("every step is journaled: intent before, outcome after")
    func journal() async throws {
        let rig = try Rig()
        let store = rig.store
        let seen = Sightings()
        // At the moment the driver acts, the journal must already hold its step's intent, not yet closed.
        await rig.runtime.onEffect { call in
            let name = call.split(separator: " ").last.map(String.init)
            let rows = (try? await store.journal()) ?? []
            await seen.add("\(call): " + rows.filter { $0.id.name == name }.map { "\($0.step) \($0.outcome)" }.joined(separator: ", "))
        }
        _ = try await rig.reconciler.apply(Build.specSet([Build.sandbox("a")]))
        #expect(await seen.lines == ["create a: sandbox.record intent"])
        #expect(try JournalTable.rows(rig.databasePath) == ["a sandbox.record done -"])

        // A driver call that fails closes its step as failed, with the driver's error.
        await rig.runtime.fail("create b", with: FakeFailure(call: "disk full"))
        let report = try await rig.reconciler.apply(Build.specSet([Build.sandbox("a"), Build.sandbox("b")]))
        #expect(report.failed.keys.map(\.name) == ["b"])
        #expect(await seen.lines == ["create a: sandbox.record intent", "create b: sandbox.record intent"])
        #expect(try JournalTable.rows(rig.databasePath) == ["a sandbox.record done -", "b sandbox.record failed fake failure: disk full"])
        #expect(try await rig.store.unfinishedSteps() == 0)
    }

    @Test("one failing create stops neither the other creates nor a delete")
    func isolation() async throws {
        let rig = try Rig([Build.observed(Build.sandbox("old"))])
        await rig.runtime.fail("create bad")
        let report = try await rig.reconciler.apply(Build.specSet([Build.sandbox("bad"), Build.sandbox("good")]))
        #expect(!report.converged)
        #expect(report.failed.keys.map(\.name) == ["bad"])
        let names = await rig.runtime.sandboxes.keys.sorted()
        #expect(names == ["good"])
        let events = try await rig.store.events(name: "bad")
        #expect(events.contains { $0.type == .warning && $0.reason == "CreateFailed" && $0.message.contains("fake failure") })
        let ready = try await rig.store.conditions()[ResourceID(.sandbox, "bad")]?.first { $0.type == "Ready" }
        #expect(ready?.status == false && ready?.reason == "ActionFailed")
    }

    @Test("a dependent waits for, and is skipped after, a failed dependency")
    func dependencySkipped() async throws {
        let rig = try Rig()
        await rig.runtime.fail("create src")
        let report = try await rig.reconciler.apply(Build.specSet([Build.sandbox("src"), Build.sandbox("child", source: .fork("src"))]))
        #expect(report.failed[ResourceID(.sandbox, "child")]?.contains("skipped") == true)
        #expect(await rig.runtime.calls == ["create src"])
    }

    @Test("a VMM killed behind our back is brought back, with an event")
    func driftRepair() async throws {
        let rig = try Rig()
        let specs = Build.specSet([Build.sandbox("web")])
        _ = try await rig.reconciler.apply(specs)
        await rig.runtime.kill("web")
        let report = try await rig.reconciler.apply(specs)
        #expect(report.converged)
        #expect(await rig.runtime.sandboxes["web"]?.vm == .running)
        #expect(try await rig.store.events(name: "web").contains { $0.reason == "VMMExited" })
    }

    @Test("an empty spec directory is never read as destroy everything")
    func emptyGuard() async throws {
        let rig = try Rig([Build.observed(Build.sandbox("keep"))])
        await #expect(throws: ReconcileError.self) { _ = try await rig.reconciler.apply(Build.specSet([])) }
        #expect(await rig.runtime.sandboxes["keep"] != nil)
        var options = ApplyOptions()
        options.allowEmpty = true
        _ = try await rig.reconciler.apply(Build.specSet([]), options: options)
        #expect(await rig.runtime.sandboxes.isEmpty)
    }

    @Test("resources of an invalid file freeze at their last good spec")
    func freeze() async throws {
        let rig = try Rig()
        _ = try await rig.reconciler.apply(Build.specSet([Build.sandbox("a"), Build.sandbox("b")]))
        // b.yaml now fails to parse: only a is valid, b must be neither destroyed nor changed.
        var broken = Build.specSet([Build.sandbox("a")])
        broken.invalidFiles = ["b.yaml"]
        broken.diagnostics = [Diagnostic(file: "b.yaml", mark: .start, message: "YAML syntax error")]
        let report = try await rig.reconciler.apply(broken)
        #expect(report.frozen == [ResourceID(.sandbox, "b")])
        #expect(report.outcomes.isEmpty)
        #expect(await rig.runtime.sandboxes["b"] != nil)
    }

    @Test("the prune guard holds for a whole apply, not for each of its rounds")
    func pruneBudgetPerPass() async throws {
        let rig = try Rig((0..<30).map { Build.observed(Build.sandbox("o\($0)")) })
        var options = ApplyOptions(allowEmpty: true)
        options.plan.maxDestroy = 3
        let report = try await rig.reconciler.apply(Build.specSet([Build.sandbox("keep")]), options: options)
        #expect(report.outcomes.filter { $0.action.verb == .destroy }.count == 3)
        #expect(await rig.runtime.sandboxes.count == 28)
        #expect(!report.converged && report.heldBack.count == 27)
    }

    @Test("a destroyed resource is forgotten by the store")
    func forget() async throws {
        let rig = try Rig()
        _ = try await rig.reconciler.apply(Build.specSet([Build.sandbox("a"), Build.sandbox("b")]))
        _ = try await rig.reconciler.apply(Build.specSet([Build.sandbox("a")]))
        #expect(try await rig.store.lastGoodSpecs().keys.map(\.name) == ["a"])
    }
}

@Suite("Reconciler: balloons")
struct ReconcilerBalloonTests {
    @Test("apply sizes the balloon, then a guest using more memory gets it back on the next pass")
    func loop() async throws {
        let rig = try ReconcilerTests.Rig()
        let specs = Build.specSet([Build.sandbox("a", memory: .gibibytes(8), policy: "p"), Build.policy("p", buffer: .gibibytes(1))])
        #expect(try await rig.reconciler.apply(specs).converged)
        await rig.runtime.setGuest("a", used: .mebibytes(512))
        let first = try await rig.reconciler.apply(specs)
        #expect(first.converged)
        // 8Gi − (max(640Mi, 1Gi) + 1Gi) = 6Gi.
        #expect(await rig.runtime.sandboxes["a"]?.balloon?.size == .gibibytes(6))
        await rig.runtime.setGuest("a", used: .gibibytes(4), balloon: .gibibytes(6))
        _ = try await rig.reconciler.apply(specs)
        // 8Gi − (5Gi + 1Gi) = 2Gi.
        #expect(await rig.runtime.sandboxes["a"]?.balloon?.size == .gibibytes(2))
        let events = try await rig.store.events(name: "a")
        #expect(events.filter { $0.reason == "BalloonResized" }.count == 2)
    }
}

/// What a fake driver saw, in order.
actor Sightings {
    private(set) var lines: [String] = []
    func add(_ line: String) { lines.append(line) }
}

/// The journal table read through a connection of its own: `Store.journal()` leaves out
/// the error column, which is part of what a failed step must record.
enum JournalTable {
    /// "NAME STEP OUTCOME ERROR" per row, oldest first; "-" for no error.
    static func rows(_ path: String) throws -> [String] {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else { throw FakeFailure(call: "open \(path)") }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "SELECT name, step, outcome, error FROM journal ORDER BY id", -1, &statement, nil) == SQLITE_OK else {
            throw FakeFailure(call: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(statement) }
        var rows: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            rows.append((0..<4).map { sqlite3_column_text(statement, $0).map { String(cString: $0) } ?? "-" }.joined(separator: " "))
        }
        return rows
    }
}
