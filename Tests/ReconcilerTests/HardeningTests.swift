import Foundation
@testable import Reconciler
import Resources
import TestSupport
import Testing

/// Issue 14 §1 and §6: unreadable input never destroys; replacements measure before they
/// destroy; a runtime change keeps the disk; the crash hook reads its phase.
@Suite("Hardening: nothing is destroyed on bad input")
struct HardeningTests {
    struct Rig {
        let dir = TemporaryDirectory("converge-hard")
        let runtime: FakeRuntime
        let store: Store
        let reconciler: Reconciler

        init(_ sandboxes: [ObservedSandbox] = []) throws {
            runtime = FakeRuntime(sandboxes: sandboxes)
            store = try Store(path: "\(dir.path)/converge.db")
            reconciler = Reconciler(store: store, runtimes: [runtime], network: FakeNetwork(), snapshots: FakeSnapshots(), defaults: HostDefaults())
        }
    }

    /// The spec set the loader makes when `bad` does not parse at all: nothing of it is
    /// known, not even the names it declares.
    static func specs(_ resources: [Resource], unreadable bad: String) -> SpecSet {
        var set = Build.specSet(resources)
        set.diagnostics = [Diagnostic(file: bad, mark: Mark(line: 7, column: 3), message: "YAML syntax error: truncated")]
        set.invalidFiles = [bad]
        return set
    }

    @Test("a spec file that does not parse, with the database lost, destroys nothing; creates in good files go on")
    func lostDatabaseTruncatedFile() async throws {
        let four = (1...4).map { Build.sandbox("sb-00\($0)") }
        let rig = try Rig(four.map { Build.observed($0) })  // running; the store knows none of them
        let specs = Self.specs([four[0], four[2], four[3], Build.sandbox("new")], unreadable: "sb-002.yaml")

        let plan = try await rig.reconciler.plan(specs).plan
        #expect(!plan.actions.contains { $0.verb == .destroy }, "\(plan.actions)")
        #expect(plan.actions.map(\.description) == ["+ Sandbox/new create: not found on the host"])
        let held = try #require(plan.findings.first { $0.id == ResourceID(.sandbox, "sb-002") })
        #expect(held.reason == "PruneHeld" && held.severity == .blocked && held.message.contains("sb-002.yaml"))
        #expect(plan.pruneHold?.contains("sb-002.yaml does not load") == true)

        let report = try await rig.reconciler.apply(specs, options: ApplyOptions(plan: PlanOptions(force: true)))
        #expect(!report.converged && report.pruneHold != nil)
        #expect(await rig.runtime.sandboxes.keys.sorted() == ["new", "sb-001", "sb-002", "sb-003", "sb-004"])
        #expect(await !rig.runtime.calls.contains { $0.hasPrefix("destroy") })
        let ready = try await rig.store.conditions()[ResourceID(.sandbox, "sb-002")]?.first { $0.type == "Ready" }
        #expect(ready?.status == false && ready?.reason == "PruneHeld")

        // Once the file loads again (and still does not name it), the destroy goes ahead.
        let fixed = try await rig.reconciler.apply(Build.specSet([four[0], four[2], four[3], Build.sandbox("new")]))
        #expect(fixed.converged)
        #expect(await rig.runtime.sandboxes["sb-002"] == nil)
    }

    @Test("a tree whose only file is unreadable is held, not refused as empty and not pruned")
    func onlyFileUnreadable() async throws {
        let rig = try Rig([Build.observed(Build.sandbox("a"))])
        let report = try await rig.reconciler.apply(Self.specs([], unreadable: "a.yaml"))
        #expect(!report.converged)
        #expect(await rig.runtime.sandboxes["a"] != nil)
    }

    @Test("a stored last good spec that no longer decodes is reported and keeps its sandbox")
    func storedSpecUndecodable() async throws {
        let rig = try Rig()
        let a = Build.sandbox("a")
        #expect(try await rig.reconciler.apply(Build.specSet([a])).converged)
        // Damage the stored spec, as another version of Converge might have written it.
        let db = try Connection(path: "\(rig.dir.path)/converge.db")
        try db.run("UPDATE specs SET resource_json = ? WHERE name = 'a'", [.text("{\"not\": \"a resource\"}")])
        await #expect(throws: StoredSpecUnreadable.self) { try await rig.store.lastGoodSpec(ResourceID(.sandbox, "a")) }

        var specs = Self.specs([], unreadable: "a.yaml")
        specs.declaredInInvalidFiles = [ResourceID(.sandbox, "a")]
        let report = try await rig.reconciler.apply(specs)
        #expect(await rig.runtime.sandboxes["a"] != nil)
        #expect(report.pruneHold != nil)
        let events = try await rig.store.events(name: "a")
        #expect(events.contains { $0.reason == "StoredSpecUnreadable" && $0.message.contains("cannot be read") }, "\(events)")
    }

    @Test("a replacement whose new image is missing is refused at plan time and leaves the running VM alone")
    func replacementPreflight() async throws {
        let old = Build.sandbox("web", image: "base-1")
        let rig = try Rig([Build.observed(old)])
        await rig.runtime.removeImage("base-2")
        let specs = Build.specSet([Build.sandbox("web", image: "base-2"), Build.snapshot("gold", of: "web")])

        let plan = try await rig.reconciler.plan(specs).plan
        #expect(plan.actions.isEmpty, "\(plan.actions)")
        let refusal = try #require(plan.findings.first { $0.id == ResourceID(.sandbox, "web") })
        #expect(refusal.reason == "ReplacementBlocked" && refusal.message.contains("base image 'base-2' not found"))
        #expect(plan.findings.contains { $0.id == ResourceID(.snapshot, "gold") && $0.reason == "DependencyBlocked" })

        let report = try await rig.reconciler.apply(specs)
        #expect(!report.converged)
        #expect(await rig.runtime.calls.isEmpty)
        #expect(await rig.runtime.sandboxes["web"]?.vm == .running)
    }

    @Test("a create whose image is missing records nothing")
    func createPreflight() async throws {
        let rig = try Rig()
        await rig.runtime.removeImage("gone")
        let report = try await rig.reconciler.apply(Build.specSet([Build.sandbox("a", image: "gone")]))
        #expect(report.findings.contains { $0.reason == "CreateBlocked" && $0.message.contains("gone") })
        #expect(await rig.runtime.calls.isEmpty)
    }

    @Test("a runtime change never rebuilds a disk: refused while there is one, a plain replacement when there is none")
    func runtimeChangeKeepsDisk() throws {
        let applied = Build.sandbox("a")
        var observed = Build.observed(applied)
        observed.diskExists = true
        var state = ObservedState()
        state.sandboxes["a"] = observed
        var qemu = applied.sandbox!
        qemu.runtime = .qemu
        let desired = Resource(name: "a", body: .sandbox(qemu), origin: applied.origin)
        let plan = Planner.plan(desired: Build.desired([desired]), observed: state, defaults: HostDefaults())
        #expect(plan.actions.isEmpty, "\(plan.actions)")
        #expect(plan.findings.map(\.reason) == ["RuntimeChangeRefused"])

        state.sandboxes["a"]?.diskExists = false
        let empty = Planner.plan(desired: Build.desired([desired]), observed: state, defaults: HostDefaults())
        #expect(empty.actions.first?.verb == .replace && empty.actions.first?.keepsDisk == false, "\(empty.actions)")

        state.sandboxes["a"]?.diskExists = true
        let rebuilt = Planner.plan(desired: Build.desired([Build.sandbox("a", image: "other")]), observed: state, defaults: HostDefaults())
        #expect(rebuilt.actions.first?.verb == .replace && rebuilt.actions.first?.keepsDisk == false)
    }

    @Test("a name recorded by two runtimes stops the pass instead of letting each undo the other")
    func recordedTwice() async throws {
        let dir = TemporaryDirectory("converge-twice")
        let ch = FakeRuntime(runtime: .cloudHypervisor, sandboxes: [Build.observed(Build.sandbox("a"))])
        var q = Build.observed(Build.sandbox("a"))
        q.config.runtime = .qemu
        let qemu = FakeRuntime(runtime: .qemu, sandboxes: [q])
        let reconciler = Reconciler(store: try Store(path: "\(dir.path)/converge.db"), runtimes: [ch, qemu], network: FakeNetwork(),
                                    snapshots: FakeSnapshots(), defaults: HostDefaults())
        await #expect(throws: ReconcileError.self) { try await reconciler.apply(Build.specSet([Build.sandbox("a")])) }
        let calls = await ch.calls + qemu.calls
        #expect(calls.isEmpty)
    }

    @Test("CONVERGE_CRASH_AT reads the count and the phase in any combination", arguments: [
        ("ch.vm.boot", "ch.vm.boot:1:before"),
        ("ch.vm.boot:after", "ch.vm.boot:1:after"),
        ("ch.vm.boot:3", "ch.vm.boot:3:before"),
        ("ch.vm.boot:2:after", "ch.vm.boot:2:after"),
    ])
    func crashHookPhase(spec: String, expected: String) {
        #expect(CrashHook(spec: spec).describedTarget == expected)
    }
}

@Suite("Preflight of runtimes without a driver")
struct MissingRuntimeTests {
    @Test("a sandbox of a runtime this build has no driver for is refused at plan time, naming the ones there are")
    func noDriver() async throws {
        let dir = TemporaryDirectory("converge-nodriver")
        let reconciler = Reconciler(store: try Store(path: "\(dir.path)/converge.db"), runtimes: [FakeRuntime()], network: FakeNetwork(),
                                    snapshots: FakeSnapshots(), defaults: HostDefaults())
        var spec = Build.sandbox("phone").sandbox!
        spec.runtime = .cuttlefish
        let plan = try await reconciler.plan(Build.specSet([Resource(name: "phone", body: .sandbox(spec), origin: Origin(file: "p.yaml", mark: .start))])).plan
        #expect(plan.actions.isEmpty)
        let refusal = try #require(plan.findings.first)
        #expect(refusal.reason == "CreateBlocked" && refusal.message.contains("runtime cuttlefish has no driver") && refusal.message.contains("cloud-hypervisor"))
    }
}
