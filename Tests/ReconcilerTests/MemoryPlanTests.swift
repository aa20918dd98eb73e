import Reconciler
import Resources
import TestSupport
import Testing

/// How the planner treats clones: their shape, their origins, and what holds a snapshot.
@Suite("Planning snapshots, restores and forks")
struct MemoryPlanTests {
    static let snapshotDisk = "/snaps/gold/disk.qcow2"

    /// A warm snapshot `gold` of a 1-cpu, 512Mi VM.
    static func gold() -> ObservedSnapshot {
        let shape = SandboxConfig(resolving: SandboxSpec(cpus: 1, memory: .mebibytes(512), source: .image("u")), defaults: HostDefaults())
        return ObservedSnapshot(name: "gold", spec: SnapshotSpec(source: .sandbox("golden")), hasMemory: true, runtime: .cloudHypervisor,
                                config: shape, disk: snapshotDisk, diskChain: ["/images/u.qcow2"], sizeOnDisk: 1 << 20)
    }

    func plan(_ desired: [Resource], _ observed: ObservedState) -> Plan {
        Planner.plan(desired: Build.desired(desired), observed: observed, defaults: HostDefaults())
    }

    @Test("a clone whose spec leaves its size out takes the saved shape, not the host defaults")
    func shapeFromSnapshot() throws {
        let restored = Build.sandbox("r", cpus: nil, memory: nil, source: .snapshot("gold"))
        let plan = plan([restored], ObservedState(snapshots: ["gold": Self.gold()]))
        let create = try #require(plan.actions.first { $0.id == restored.id })
        #expect(create.config?.cpus == 1 && create.config?.memory == .mebibytes(512))

        // Once it exists, its own shape counts (the snapshot may be gone), and nothing changes.
        var observed = Build.observed(restored)
        observed.config = create.config!
        #expect(self.plan([restored], ObservedState(sandboxes: ["r": observed])).actions.isEmpty)
    }

    @Test("a fork takes its parent's shape")
    func shapeFromParent() throws {
        let parent = Build.sandbox("p", cpus: 3, memory: .gibibytes(3))
        let child = Build.sandbox("c", cpus: nil, memory: nil, source: .fork("p"))
        let plan = plan([parent, child], ObservedState(sandboxes: ["p": Build.observed(parent)]))
        let create = try #require(plan.actions.first { $0.id == child.id })
        #expect(create.config?.cpus == 3 && create.config?.memory == .gibibytes(3))
        #expect(create.dependsOn.contains(parent.id))
    }

    @Test("a Snapshot whose source sandbox is neither on the host nor in the specs is refused, not attempted")
    func sourceMissing() {
        let plan = plan([Build.snapshot("gold", of: "gone")], ObservedState())
        #expect(plan.actions.isEmpty)
        #expect(plan.findings.map(\.reason) == ["SourceMissing"])
        // Once taken, its source may go: nothing to do.
        #expect(self.plan([Build.snapshot("gold", of: "golden")], ObservedState(snapshots: ["gold": Self.gold()])).isConverged)
    }

    @Test("a snapshot with something built on its disk is kept, and the plan says by whom; without it, it goes after its users")
    func heldByChain() throws {
        var user = Build.observed(Build.sandbox("r", source: .snapshot("gold")))
        user.diskChain = [Self.snapshotDisk, "/images/u.qcow2"]
        let held = plan([Build.sandbox("r", source: .snapshot("gold"))], ObservedState(sandboxes: ["r": user], snapshots: ["gold": Self.gold()]))
        #expect(held.actions.isEmpty)
        let finding = try #require(held.findings.first { $0.id == ResourceID(.snapshot, "gold") })
        #expect(finding.reason == "SnapshotInUse" && finding.message.contains("Sandbox/r"))

        let gone = plan([], ObservedState(sandboxes: ["r": user], snapshots: ["gold": Self.gold()]))
        #expect(gone.actions.map(\.id) == [ResourceID(.sandbox, "r"), ResourceID(.snapshot, "gold")])
        #expect(gone.actions.last?.dependsOn == [ResourceID(.sandbox, "r")])

        // A changed spec of a held snapshot is refused: replacing it would drop the disk.
        let changed = Resource(name: "gold", body: .snapshot(SnapshotSpec(source: .sandbox("golden"), memory: false)), origin: Origin(file: "s.yaml", mark: .start))
        let refused = plan([changed, Build.sandbox("r", source: .snapshot("gold"))], ObservedState(sandboxes: ["r": user], snapshots: ["gold": Self.gold()]))
        #expect(!refused.actions.contains { $0.id == changed.id })
        #expect(refused.findings.contains { $0.id == changed.id && $0.reason == "SnapshotInUse" })
    }

    @Test("snapshots and forks of one sandbox wait for each other: each relaunches it")
    func capturesInSeries() throws {
        let a = Build.sandbox("a")
        let plan = plan([a, Build.snapshot("s1", of: "a"), Build.snapshot("s2", of: "a"), Build.sandbox("f", source: .fork("a"))],
                         ObservedState(sandboxes: ["a": Build.observed(a)]))
        let captures = plan.actions.filter { $0.id.name != "a" }
        #expect(captures.count == 3)
        for (earlier, later) in zip(captures, captures.dropFirst()) {
            #expect(later.dependsOn.contains(earlier.id), "\(later.id) does not wait for \(earlier.id)")
        }
    }

    @Test("a runtime that cannot save memory refuses suspend and fork with the reason")
    func capabilityRefusal() {
        let none = RuntimeCapabilities.none
        let a = Build.sandbox("a", state: .suspended)
        let plan = Planner.plan(desired: Build.desired([a]), observed: ObservedState(sandboxes: ["a": Build.observed(Build.sandbox("a"))]),
                                defaults: HostDefaults(), capabilities: [.cloudHypervisor: none])
        #expect(plan.findings.map(\.reason) == ["MemoryStateUnsupported"])
        #expect(plan.actions.isEmpty)
    }
}
