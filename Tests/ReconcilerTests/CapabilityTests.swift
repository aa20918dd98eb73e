import Reconciler
import Resources
import TestSupport
import Testing

/// The planner asks each runtime's capabilities instead of assuming Cloud Hypervisor's.
@Suite("Runtime capabilities drive the plan")
struct CapabilityTests {
    static let fixedSize = RuntimeCapabilities(liveCPUResize: false, liveMemoryGrow: true, liveMemoryShrink: false,
                                               memorySnapshot: false, balloon: false, pause: false)

    func plan(_ resource: Resource, observed: Resource, capabilities: RuntimeCapabilities) -> Plan {
        var world = ObservedState()
        world.sandboxes[observed.name] = Build.observed(observed)
        return Planner.plan(desired: Build.desired([resource]), observed: world, defaults: HostDefaults(),
                            capabilities: [.cloudHypervisor: capabilities])
    }

    @Test("a live change the runtime cannot make is a replacement that keeps the disk, saying why")
    func replacementKeepsDisk() throws {
        let limits = ResourceLimits(cpus: 4, memory: .gibibytes(4))
        let before = Build.sandbox("a", cpus: 2, memory: .gibibytes(2), limits: limits)
        // The same change is an in-place resize for a runtime that can.
        let live = plan(Build.sandbox("a", cpus: 3, memory: .gibibytes(2), limits: limits), observed: before, capabilities: .all)
        #expect(live.actions.map(\.verb) == [.resize])

        let cpus = plan(Build.sandbox("a", cpus: 3, memory: .gibibytes(2), limits: limits), observed: before, capabilities: Self.fixedSize)
        let replace = try #require(cpus.actions.first)
        #expect(replace.verb == .replace && replace.keepsDisk, "\(cpus.actions)")
        #expect(replace.reason.contains("cannot change vCPUs of a running VM"))

        let grow = plan(Build.sandbox("a", cpus: 2, memory: .gibibytes(3), limits: limits), observed: before, capabilities: Self.fixedSize)
        #expect(grow.actions.map(\.verb) == [.resize], "memory grows live on this runtime")

        let shrinkFrom = Build.sandbox("a", cpus: 2, memory: .gibibytes(3), limits: limits)
        var grown = Build.observed(shrinkFrom)
        grown.config.bootMemory = .gibibytes(2)
        var world = ObservedState()
        world.sandboxes["a"] = grown
        let shrink = Planner.plan(desired: Build.desired([before]), observed: world, defaults: HostDefaults(),
                                  capabilities: [.cloudHypervisor: Self.fixedSize])
        #expect(shrink.actions.first?.verb == .replace && shrink.actions.first?.keepsDisk == true, "\(shrink.actions)")
        #expect(shrink.actions.first?.reason.contains("cannot take memory") == true)
    }

    @Test("pause and balloons the runtime lacks are refused with the reason")
    func refusals() {
        let before = Build.sandbox("a")
        let paused = plan(Build.sandbox("a", state: .paused), observed: before, capabilities: Self.fixedSize)
        #expect(paused.actions.isEmpty)
        #expect(paused.findings.map(\.reason) == ["PauseUnsupported"])

        let ballooned = plan(Build.sandbox("a", policy: "p"), observed: before, capabilities: Self.fixedSize)
        #expect(ballooned.findings.map(\.reason) == ["BalloonUnsupported"])
        #expect(!ballooned.actions.contains { $0.verb == .balloon })
    }

    @Test("the reconciler plans with what its runtimes declare")
    func reconcilerUsesDeclared() async throws {
        let dir = TemporaryDirectory("converge-cap")
        let runtime = FakeRuntime(capabilities: Self.fixedSize, sandboxes: [Build.observed(Build.sandbox("a"))])
        let reconciler = Reconciler(store: try Store(path: "\(dir.path)/converge.db"), runtimes: [runtime], network: FakeNetwork(),
                                    snapshots: FakeSnapshots(), defaults: HostDefaults())
        let report = try await reconciler.plan(Build.specSet([Build.sandbox("a", state: .paused)]))
        #expect(report.plan.findings.map(\.reason) == ["PauseUnsupported"])
    }
}
