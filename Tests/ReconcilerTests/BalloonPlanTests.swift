import Reconciler
import Resources
import TestSupport
import Testing

/// The balloon loop's decisions (docs/guest-agent.md §3), one row per case.
@Suite("Planner: balloons")
struct BalloonPlanTests {
    let policy = Resource(name: "tight", body: .balloonPolicy(BalloonPolicySpec(minVM: .mebibytes(512), buffer: .mebibytes(512), bufferRatio: 0.25)),
                          origin: Origin(file: "p.yaml", mark: .start))

    func plan(used: Quantity?, balloon: Quantity = Quantity(bytes: 0), memory: Quantity = .gibibytes(4), vm: VMState = .running,
              policy name: String? = "tight") -> Plan {
        let sandbox = Build.sandbox("web", state: vm == .paused ? .paused : .running, memory: memory, policy: name)
        var observed = Build.observed(sandbox, vm: vm)
        observed.balloon = ObservedBalloon(allocated: memory, size: balloon, guestUsed: used, unavailable: used == nil ? "silent" : nil)
        let world = ObservedState(sandboxes: ["web": observed], policies: ["tight": AppliedRecord(body: policy.body)])
        return Planner.plan(desired: Build.desired([sandbox, policy]), observed: world, defaults: HostDefaults())
    }

    @Test("an idle guest gets a balloon of allocated − (max(used × 1.25, minVM) + buffer)")
    func inflates() {
        // 4Gi − (max(400Mi × 1.25, 512Mi) + 512Mi) = 4096 − 1024 = 3072Mi.
        let p = plan(used: .mebibytes(400))
        #expect(p.actions.map(\.verb) == [.balloon])
        #expect(p.actions[0].balloon == .mebibytes(3072))
        #expect(p.actions[0].changes == [Change("balloon", from: "0", to: "3Gi")])
        #expect(p.actions[0].reason.contains("policy tight keeps 1Gi"))
    }

    @Test("a busier guest gets memory back at once")
    func deflates() {
        // used 2Gi: target 2560 + 512 = 3072Mi, balloon 1Gi (was 3Gi).
        let p = plan(used: .gibibytes(2), balloon: .gibibytes(3))
        #expect(p.actions.first?.balloon == .gibibytes(1))
    }

    @Test("small changes are left alone: less than 64Mi to inflate, 16Mi to deflate")
    func hysteresis() {
        // wanted 3072Mi (used 400Mi): a balloon 40Mi short is left; 100Mi short is inflated.
        #expect(plan(used: .mebibytes(400), balloon: .mebibytes(3032)).actions.isEmpty)
        #expect(plan(used: .mebibytes(400), balloon: .mebibytes(2972)).actions.first?.balloon == .mebibytes(3072))
        // used 440Mi wants 4096 − (550 + 512) = 3034Mi: 38Mi less than the 3072Mi held, so it
        // deflates; used 416Mi wants 3064Mi, only 8Mi less, so it does not.
        #expect(plan(used: .mebibytes(440), balloon: .mebibytes(3072)).actions.first?.balloon == .mebibytes(3034))
        #expect(plan(used: .mebibytes(416), balloon: .mebibytes(3072)).actions.isEmpty)
    }

    @Test("the policy fits what the guest really has (MemTotal), and compares with the size last asked for")
    func capacityAndTarget() {
        let sandbox = Build.sandbox("web", memory: .gibibytes(4), policy: "tight")
        func plan(_ balloon: ObservedBalloon) -> Plan {
            var observed = Build.observed(sandbox)
            observed.balloon = balloon
            let world = ObservedState(sandboxes: ["web": observed], policies: ["tight": AppliedRecord(body: policy.body)])
            return Planner.plan(desired: Build.desired([sandbox, policy]), observed: world, defaults: HostDefaults())
        }
        // Only 3Gi plugged: 3072 − 1024 = 2048Mi, not 3072Mi.
        let partial = plan(ObservedBalloon(allocated: .gibibytes(4), size: Quantity(bytes: 0), guestUsed: .mebibytes(100), guestCapacity: .gibibytes(3)))
        #expect(partial.actions.first?.balloon == .gibibytes(2))
        // Asked for 3Gi, the guest's driver is still at 1Gi: nothing to do.
        let lagging = plan(ObservedBalloon(allocated: .gibibytes(4), size: .gibibytes(1), target: .gibibytes(3), guestUsed: .mebibytes(100),
                                           guestCapacity: .gibibytes(4)))
        #expect(lagging.actions.isEmpty)
    }

    @Test("a guest that needs all its memory gets the whole balloon back")
    func needsEverything() {
        let p = plan(used: .mebibytes(3500), balloon: .mebibytes(8))
        #expect(p.actions.first?.balloon == Quantity(bytes: 0))
    }

    @Test("no answer from the guest, a paused or stopped VM: the balloon stays as it is")
    func leavesAlone() {
        #expect(plan(used: nil, balloon: .gibibytes(1)).actions.isEmpty)
        #expect(plan(used: .mebibytes(100), vm: .paused).actions.isEmpty)
    }

    @Test("a sandbox that no longer names a policy gets its memory back")
    func policyRemoved() {
        let p = plan(used: nil, balloon: .gibibytes(2), policy: nil)
        #expect(p.actions.map(\.verb) == [.balloon])
        #expect(p.actions[0].balloon == Quantity(bytes: 0))
        #expect(plan(used: nil, policy: nil).actions.isEmpty)
    }

    @Test("the balloon waits while the sandbox itself changes")
    func waitsForOtherActions() {
        let sandbox = Build.sandbox("web", memory: .gibibytes(4), limits: ResourceLimits(cpus: 2, memory: .gibibytes(8)), policy: "tight")
        var observed = Build.observed(Build.sandbox("web", memory: .gibibytes(3), limits: ResourceLimits(cpus: 2, memory: .gibibytes(8)), policy: "tight"))
        observed.balloon = ObservedBalloon(allocated: .gibibytes(3), size: Quantity(bytes: 0), guestUsed: .mebibytes(100))
        let world = ObservedState(sandboxes: ["web": observed], policies: ["tight": AppliedRecord(body: policy.body)])
        let p = Planner.plan(desired: Build.desired([sandbox, policy]), observed: world, defaults: HostDefaults())
        #expect(p.actions.map(\.verb) == [.resize])
    }
}
