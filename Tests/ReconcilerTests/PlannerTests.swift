import Foundation
import Reconciler
import Resources
import TestSupport
import Testing

/// (desired, observed) → actions, one row per case.
@Suite("Planner")
struct PlannerTests {
    let defaults = HostDefaults()

    func plan(_ desired: [Resource], _ observed: ObservedState = ObservedState(), options: PlanOptions = PlanOptions()) -> Plan {
        Planner.plan(desired: Build.desired(desired), observed: observed, defaults: defaults, options: options)
    }

    func lines(_ plan: Plan) -> [String] { plan.actions.map { "\($0.verb.symbol) \($0.id) \($0.verb.rawValue)" } }

    func world(_ sandboxes: [ObservedSandbox], pools: [Resource] = [], policies: [Resource] = []) -> ObservedState {
        ObservedState(sandboxes: Dictionary(uniqueKeysWithValues: sandboxes.map { ($0.name, $0) }),
                      pools: Dictionary(uniqueKeysWithValues: pools.map { ($0.name, ObservedPool(spec: $0.tapPool!, ready: $0.tapPool!.size)) }),
                      policies: Dictionary(uniqueKeysWithValues: policies.map { ($0.name, AppliedRecord(body: $0.body)) }))
    }

    @Test("an empty host gets pools and policies before the sandboxes that use them")
    func createOrder() {
        let p = plan([Build.sandbox("b", pool: "net", policy: "bal"), Build.sandbox("a"), Build.pool("net"), Build.policy("bal")])
        #expect(lines(p) == ["+ TapPool/net create", "+ BalloonPolicy/bal create", "+ Sandbox/a create", "+ Sandbox/b create"])
        #expect(p.actions[3].dependsOn == [ResourceID(.tapPool, "net"), ResourceID(.balloonPolicy, "bal")])
    }

    @Test("fork source before fork, snapshot before restore, source sandbox before snapshot")
    func dependencyOrder() {
        let p = plan([Build.sandbox("z-fork", source: .fork("m-src")), Build.sandbox("a-restored", source: .snapshot("gold")),
                      Build.snapshot("gold", of: "m-src"), Build.sandbox("m-src")])
        let order = p.actions.map(\.id.name)
        #expect(order.firstIndex(of: "m-src")! < order.firstIndex(of: "gold")!)
        #expect(order.firstIndex(of: "gold")! < order.firstIndex(of: "a-restored")!)
        #expect(order.firstIndex(of: "m-src")! < order.firstIndex(of: "z-fork")!)
        // A fork whose name sorts before its source's, two forks deep.
        let chain = plan([Build.sandbox("a-grandchild", source: .fork("b-child")), Build.sandbox("b-child", source: .fork("c-root")),
                          Build.sandbox("c-root")]).actions.map(\.id.name)
        #expect(chain == ["c-root", "b-child", "a-grandchild"])
    }

    @Test("the plan lists each kind by name, in String order, whatever the names' length and shared start")
    func nameOrder() {
        // Names that share their first 16 bytes, are prefixes of each other, or differ only past byte 8.
        let names = ["sandbox-long-name-b", "sandbox-long-name-a", "sandbox-long-name", "sandbox-long-nam", "sandbox-l",
                     "sandbox-", "sandbox", "s", "z", "0", "9-x", "sandbox-long-name-a1", "sandbox-long-name-a0"]
        let p = plan(names.map { Build.sandbox($0) } + [Build.pool("zz-pool"), Build.policy("a-policy")])
        #expect(p.actions.map(\.id.name) == ["zz-pool", "a-policy"] + names.sorted())
        #expect(p.actions.map(\.id) == p.actions.map(\.id).sorted())
    }

    @Test("a plan of thousands lists them in order, resizes those on the host and admits creates to a cap in that order")
    func largePlan() {
        // 3,000 sandboxes: every fifth is on the host (a resize), and a cap of 7 more
        // instances is admitted in plan order.
        let names = (0..<3000).map { String(format: "sb-%04d", $0) }
        let ceiling = ResourceLimits(cpus: 4)
        let desired = names.map { Build.sandbox($0, cpus: 2, limits: ceiling) }
        let onHost = stride(from: 5, to: 3000, by: 5).map { Build.observed(Build.sandbox(names[$0], cpus: 1, limits: ceiling)) }
        let capped = RuntimeCapabilities(liveCPUResize: true, liveMemoryGrow: true, liveMemoryShrink: true, memorySnapshot: true,
                                         balloon: true, pause: true, instanceLimit: 7 + onHost.count)
        let p = Planner.plan(desired: Build.desired(desired), observed: world(onHost), defaults: defaults,
                             capabilities: [.cloudHypervisor: capped])
        let creates = p.actions.filter { $0.verb == .create }.map(\.id.name)
        let resizes = p.actions.filter { $0.verb == .resize }.map(\.id.name)
        #expect(resizes == onHost.map(\.name))
        #expect(creates == [names[0], names[1], names[2], names[3], names[4], names[6], names[7]])
        let pending = p.findings.filter { $0.reason == "Pending" }.map(\.id.name)
        #expect(pending.count == 3000 - onHost.count - 7)
        #expect(pending.first == names[8] && pending.last == names[2999])
        #expect(p.actions.map(\.id.name) == p.actions.map(\.id.name).sorted())
    }

    @Test("a converged host plans nothing")
    func noChanges() {
        let web = Build.sandbox("web")
        let paused = Build.sandbox("p", state: .paused)
        let stopped = Build.sandbox("s", state: .stopped)
        let p = plan([web, paused, stopped, Build.pool("net")],
                     world([Build.observed(web), Build.observed(paused, vm: .paused), Build.observed(stopped, vm: .absent)], pools: [Build.pool("net")]))
        #expect(p.isEmpty && p.findings.isEmpty)
    }

    @Test("memory within limits on a running sandbox resizes in place")
    func resize() {
        let before = Build.sandbox("web", memory: .gibibytes(2), limits: ResourceLimits(cpus: 4, memory: .gibibytes(4)))
        let after = Build.sandbox("web", memory: .gibibytes(3), limits: ResourceLimits(cpus: 4, memory: .gibibytes(4)))
        let p = plan([after], world([Build.observed(before)]))
        #expect(lines(p) == ["~ Sandbox/web resize"])
        #expect(p.actions[0].changes == [Change("memory", from: "2Gi", to: "3Gi")])
    }

    @Test("memory past the ceiling replaces the VM but keeps the disk")
    func pastCeiling() {
        let before = Build.sandbox("web", memory: .gibibytes(2))
        let p = plan([Build.sandbox("web", memory: .gibibytes(4))], world([Build.observed(before)]))
        #expect(lines(p) == ["-/+ Sandbox/web replace"])
        #expect(p.actions[0].keepsDisk && p.actions[0].reason.contains("forces replacement"))
        #expect(!p.actions[0].isDestructive)
    }

    @Test("a changed image forces replacement and rebuilds the disk")
    func imageChange() {
        let p = plan([Build.sandbox("web", image: "b")], world([Build.observed(Build.sandbox("web", image: "a"))]))
        #expect(lines(p) == ["-/+ Sandbox/web replace"])
        #expect(!p.actions[0].keepsDisk && p.actions[0].isDestructive)
        #expect(p.actions[0].changes == [Change("source", from: "image a", to: "image b")])
    }

    @Test("a sandbox no spec names is destroyed; its pool after it")
    func destroy() {
        let old = Build.sandbox("old", pool: "net")
        let p = plan([], world([Build.observed(old)], pools: [Build.pool("net")]))
        #expect(lines(p) == ["- Sandbox/old destroy", "- TapPool/net destroy"])
        #expect(p.actions[1].dependsOn == [ResourceID(.sandbox, "old")])
    }

    @Test("power transitions", arguments: [
        (PowerState.running, VMState.paused, "resume"), (.paused, .running, "pause"), (.stopped, .running, "stop"),
        (.running, .shutdown, "start"), (.running, .created, "start"), (.paused, .absent, "start"), (.running, .unresponsive, "start"),
    ])
    func transitions(want: PowerState, vm: VMState, verb: String) {
        var observed = Build.observed(Build.sandbox("s"), vm: vm)
        observed.intendedState = vm == .absent ? .stopped : .running
        let p = plan([Build.sandbox("s", state: want)], world([observed]))
        #expect(lines(p) == ["~ Sandbox/s \(verb)"])
    }

    @Test("a VMM that died is drift: a finding and a start")
    func drift() {
        let p = plan([Build.sandbox("web")], world([Build.observed(Build.sandbox("web"), vm: .absent)]))
        #expect(lines(p) == ["~ Sandbox/web start"])
        #expect(p.findings.map(\.reason) == ["VMMExited"])
    }

    @Test("a disk never shrinks: the change is refused, nothing else happens")
    func diskShrink() {
        let p = plan([Build.sandbox("web", disk: .gibibytes(10))], world([Build.observed(Build.sandbox("web", disk: .gibibytes(20)))]))
        #expect(p.isEmpty)
        #expect(p.findings.map(\.reason) == ["DiskShrinkRefused"])
    }

    @Test("a stopped sandbox records a new size and grows its disk")
    func stoppedChanges() {
        let before = Build.sandbox("s", state: .stopped, memory: .gibibytes(2), disk: .gibibytes(20))
        let after = Build.sandbox("s", state: .stopped, memory: .gibibytes(8), disk: .gibibytes(30))
        let p = plan([after], world([Build.observed(before, vm: .absent)]))
        #expect(lines(p) == ["~ Sandbox/s update", "~ Sandbox/s grow-disk"])
    }

    @Test("a pool missing ready slots is refilled, broken slots repaired; sandboxes do not wait for a refill")
    func poolRefill() {
        var observed = world([], pools: [Build.pool("net", size: 4)])
        observed.pools["net"]?.ready = 1
        let p = plan([Build.pool("net", size: 4), Build.sandbox("web", pool: "net")], observed)
        #expect(lines(p) == ["~ TapPool/net update", "+ Sandbox/web create"])
        #expect(p.actions[0].reason == "refill: 1 of 4 slots ready")
        #expect(p.actions[1].dependsOn.isEmpty)
        observed.pools["net"]?.ready = 4
        observed.pools["net"]?.broken = 2
        #expect(plan([Build.pool("net", size: 4)], observed).actions.first?.reason.hasPrefix("repair") == true)
    }

    @Test("a changed pool spec is an update")
    func poolUpdate() {
        let p = plan([Build.pool("net", size: 5)], world([], pools: [Build.pool("net", size: 2)]))
        #expect(lines(p) == ["~ TapPool/net update"])
        #expect(p.actions[0].changes == [Change("size", from: "2", to: "5")])
    }

    @Test("the prune guard holds back destroys past the limit")
    func pruneGuard() {
        let observed = world((1...5).map { Build.observed(Build.sandbox("s\($0)")) })
        let p = plan([], observed, options: PlanOptions(maxDestroy: 2))
        #expect(lines(p) == ["- Sandbox/s1 destroy", "- Sandbox/s2 destroy"])
        #expect(p.heldBack.map(\.id.name) == ["s3", "s4", "s5"])
        let forced = plan([], observed, options: PlanOptions(maxDestroy: 2, force: true))
        #expect(forced.actions.count == 5 && forced.heldBack.isEmpty)
    }

    @Test("the default guard allows max(10, 25% of sandboxes)")
    func defaultGuard() {
        let observed = world((1...60).map { Build.observed(Build.sandbox("s\($0)")) })
        #expect(plan([], observed).actions.count == 15)
        let few = world((1...12).map { Build.observed(Build.sandbox("s\($0)")) })
        #expect(plan([], few).actions.count == 10)
    }

    @Test("a VMM that is up but not booted is not resized: the size is recorded and the start rebuilds it")
    func noResizeOnUnbootedVMM() {
        let before = Build.sandbox("web", cpus: 2, limits: ResourceLimits(cpus: 4, memory: .gibibytes(4)))
        let after = Build.sandbox("web", cpus: 3, limits: ResourceLimits(cpus: 4, memory: .gibibytes(4)))
        let p = plan([after], world([Build.observed(before, vm: .created)]))
        #expect(lines(p) == ["~ Sandbox/web update", "~ Sandbox/web start"])
    }

    @Test("memory below the boot size is a replacement that keeps the disk; resizes keep the boot-time ceilings")
    func memoryBelowBoot() {
        let booted = Build.sandbox("web", memory: .gibibytes(2))
        let p = plan([Build.sandbox("web", memory: .gibibytes(1))], world([Build.observed(booted)]))
        #expect(lines(p) == ["-/+ Sandbox/web replace"])
        #expect(p.actions[0].keepsDisk && p.actions[0].reason.contains("cannot be unplugged"))
        // cpus 4 → 2 without limits is a live resize that keeps max_vcpus 4 on record, so 2 → 4 is one too.
        let four = Build.sandbox("web", cpus: 4)
        let down = plan([Build.sandbox("web", cpus: 2)], world([Build.observed(four)]))
        #expect(lines(down) == ["~ Sandbox/web resize"] && down.actions[0].config?.maxCpus == 4)
        var resized = Build.observed(four)
        resized.config = down.actions[0].config!
        #expect(lines(plan([four], world([resized]))) == ["~ Sandbox/web resize"])
    }

    @Test("a plan with only held-back destroys or refusals is not converged")
    func notConvergedWithoutActions() {
        let held = plan([], world([Build.observed(Build.sandbox("old"))]), options: PlanOptions(maxDestroy: 0))
        #expect(held.actions.isEmpty && !held.isConverged)
        let shrink = plan([Build.sandbox("web", disk: .gibibytes(10))], world([Build.observed(Build.sandbox("web", disk: .gibibytes(20)))]))
        #expect(shrink.actions.isEmpty && !shrink.isConverged)
        #expect(plan([], world([])).isConverged)
    }

    @Test("a sandbox that crashed and is now wanted stopped is not reported as drift")
    func noDriftWhenStopped() {
        var crashed = Build.observed(Build.sandbox("web"), vm: .absent)
        crashed.intendedState = .running
        let p = plan([Build.sandbox("web", state: .stopped)], world([crashed]))
        #expect(p.isConverged && p.findings.isEmpty, "\(p)")
    }

    @Test("the plan is deterministic")
    func deterministic() {
        let desired = (1...50).map { Build.sandbox("s\($0)", pool: $0 % 2 == 0 ? "net" : nil) } + [Build.pool("net")]
        #expect(plan(desired) == plan(desired.reversed()))
    }
}
