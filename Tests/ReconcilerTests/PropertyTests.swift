import Foundation
import Reconciler
import Resources
import TestSupport
import Testing


@Suite("Plan properties")
struct PropertyTests {
    static func randomSpecs(_ g: inout SplitMix64) -> [Resource] {
        var resources: [Resource] = [Build.pool("net"), Build.policy("bal")]
        for i in 0..<Int.random(in: 0...8, using: &g) {
            let memory = Quantity.gibibytes(Int64.random(in: 1...4, using: &g))
            let limit = Bool.random(using: &g) ? ResourceLimits(cpus: 8, memory: .gibibytes(8)) : nil
            resources.append(Build.sandbox("s\(i)", image: ["u", "v"].randomElement(using: &g)!,
                                           state: PowerState.allCases.filter { $0 != .suspended }.randomElement(using: &g)!,
                                           cpus: Int.random(in: 1...4, using: &g), memory: memory,
                                           disk: .gibibytes(Int64.random(in: 20...30, using: &g)), limits: limit,
                                           pool: Bool.random(using: &g) ? "net" : nil, policy: Bool.random(using: &g) ? "bal" : nil))
        }
        return resources
    }

    @Test("applying the plan to a fake world makes the next plan empty", arguments: 0..<40)
    func planThenEmpty(seed: Int) async throws {
        var g = SplitMix64(seed: UInt64(seed) &* 7919)
        // A random starting world: what a random earlier spec set left behind, with some VMMs killed.
        let dir = TemporaryDirectory("converge-prop")
        let runtime = FakeRuntime()
        let store = try Store(path: "\(dir.path)/converge.db")
        let reconciler = Reconciler(store: store, runtimes: [runtime], network: FakeNetwork(), snapshots: FakeSnapshots(), defaults: HostDefaults())
        var options = ApplyOptions(plan: PlanOptions(force: true), allowEmpty: true)
        options.maxIterations = 5
        _ = try await reconciler.apply(Build.specSet(Self.randomSpecs(&g)), options: options)
        for name in await runtime.sandboxes.keys.sorted() where Bool.random(using: &g) { await runtime.kill(name) }

        let target = Build.specSet(Self.randomSpecs(&g))
        let report = try await reconciler.apply(target, options: options)
        // Growing disks of running sandboxes is refused by design (a finding, not an action).
        let blocked = report.findings.filter { $0.severity == .blocked }
        #expect(report.remaining.isEmpty, "seed \(seed): \(report.remaining)")
        let next = try await reconciler.plan(target, options: options)
        #expect(next.plan.isEmpty, "seed \(seed): \(next.plan.actions)")
        #expect(report.iterations <= 2, "seed \(seed): took \(report.iterations) rounds")
        if blocked.isEmpty { #expect(report.converged, "seed \(seed)") }
    }
}
