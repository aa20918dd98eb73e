import Foundation
import Glibc
import Reconciler
import Testing
@testable import Drivers

/// Kill -9 at every journaled step, before and after it, then restart: the next apply
/// converges to the specs and nothing leaks (process, socket, namespace, link, nft table,
/// overlay, metadata), and no disk of a spec'd sandbox is lost.
@Suite("Crash safety: SIGKILL at every journaled step", .serialized)
struct CrashSafetyTests {
    /// A change to apply, from a state reached by applying `setup` first.
    struct Scenario: Sendable {
        var name: String
        var setup: [String]
        var target: String
        /// Damage done by hand before the target apply.
        var damage: (@Sendable (CLIHarness) -> Void)? = nil
        /// The disk of sandbox `a` must survive the crash and the recovery.
        var keepsDisk: Bool
        /// The runtime of sandbox `a`, whose directory holds that disk.
        var runtime = "cloud-hypervisor"
    }

    /// Sandbox `a` (and what `extra` adds) as a Cuttlefish device.
    static func device(state: String = "running", cpus: Int = 2, compatible: Bool = false, sandbox: Bool = true, extra: String = "") -> String {
        let a = "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: a}\nspec: {runtime: cuttlefish, source: {image: android}, cpus: \(cpus), memory: 2Gi, disk: 2Gi, state: \(state)\(compatible ? ", snapshotCompatible: true" : "")}\n"
        return (sandbox ? a : "") + extra
    }

    /// The same changes on Cuttlefish devices (the steps of its adapter), against the simulator.
    static let cuttlefishScenarios: [Scenario] = {
        let snapshot = "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: s}\nspec: {source: {sandbox: a}, memory: false}\n"
            + CLIHarness.device("b", "source: {snapshot: s}").replacingOccurrences(of: "source: {image: android}, ", with: "")
        return [
            Scenario(name: "cuttlefish create", setup: [], target: device(), keepsDisk: false, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish stop", setup: [device()], target: device(state: "stopped"), keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish start", setup: [device(state: "stopped")], target: device(), keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish pause", setup: [device(compatible: true)], target: device(state: "paused", compatible: true),
                     keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish resume", setup: [device(state: "paused", compatible: true)], target: device(compatible: true),
                     keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish suspend", setup: [device(compatible: true)], target: device(state: "suspended", compatible: true),
                     keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish wake", setup: [device(compatible: true), device(state: "suspended", compatible: true)],
                     target: device(compatible: true), keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish destroy", setup: [device()], target: device(sandbox: false), keepsDisk: false, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish disk snapshot and restore", setup: [device()], target: device(extra: snapshot), keepsDisk: true, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish dead device", setup: [device()], target: device(), damage: { h in
                _ = h.sim("cfsimctl", "kill-crosvm", "cvg_a", "--signal=KILL")
            }, keepsDisk: false, runtime: "cuttlefish"),
            Scenario(name: "cuttlefish resize", setup: [device()], target: device(cpus: 3), keepsDisk: true, runtime: "cuttlefish"),
        ]
    }()

    static func specs(state: String = "running", memory: String = "1Gi", limit: String = "2Gi", disk: String = "4Gi",
                      sandbox: Bool = true, pool: Bool = true, policy: String = "{interval: 30s}", qemu: Bool = false,
                      poolSize: Int = 1, extra: String = "") -> String {
        guard pool else { return "" }
        var text = """
        apiVersion: converge.dev/v1
        kind: TapPool
        metadata: {name: default}
        spec: {size: \(poolSize), subnet: 10.200.0.0/16, guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}}
        ---
        apiVersion: converge.dev/v1
        kind: BalloonPolicy
        metadata: {name: default}
        spec: \(policy)

        """
        if sandbox {
            text += """
            ---
            apiVersion: converge.dev/v1
            kind: Sandbox
            metadata: {name: a}
            spec: {state: \(state), cpus: 1, memory: \(memory), disk: \(disk), limits: {cpus: \(qemu ? 1 : 2), memory: \(limit)}, source: {image: \(qemu ? "test-guest" : "ubuntu-base.1")}, network: {pool: default}, balloon: {policy: default}\(qemu ? ", runtime: qemu" : "")}

            """
        }
        return text + extra
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "create", setup: [], target: specs(), keepsDisk: false),
        Scenario(name: "pause", setup: [specs()], target: specs(state: "paused"), keepsDisk: true),
        Scenario(name: "resume", setup: [specs(state: "paused")], target: specs(), keepsDisk: true),
        Scenario(name: "resize", setup: [specs()], target: specs(memory: "1536Mi"), keepsDisk: true),
        Scenario(name: "stop and grow the disk", setup: [specs()], target: specs(state: "stopped", disk: "6Gi"), keepsDisk: true),
        Scenario(name: "replace keeping the disk", setup: [specs()], target: specs(memory: "3Gi", limit: "4Gi", disk: "5Gi"), keepsDisk: true),
        Scenario(name: "balloon", setup: [specs()], target: specs(policy: "{interval: 30s, minVM: 256Mi, buffer: 256Mi}"), keepsDisk: true),
        Scenario(name: "destroy the sandbox", setup: [specs()], target: specs(sandbox: false), keepsDisk: false),
        Scenario(name: "destroy everything", setup: [specs()], target: specs(pool: false), keepsDisk: false),
        Scenario(name: "snapshot and restore", setup: [specs(poolSize: 2)], target: specs(poolSize: 2, extra: memory(snapshot: true, restored: true)),
                 keepsDisk: false),
        Scenario(name: "fork", setup: [specs(poolSize: 2)], target: specs(poolSize: 2, extra: memory(fork: true)), keepsDisk: false),
        Scenario(name: "suspend", setup: [specs()], target: specs(state: "suspended"), keepsDisk: true),
        Scenario(name: "resume from suspend", setup: [specs(), specs(state: "suspended")], target: specs(), keepsDisk: true),
        Scenario(name: "adopt and remove snapshots", setup: [specs(extra: memory(snapshot: true))], target: specs(sandbox: false, extra: memory(adopt: true)),
                 damage: { _ in adoptFixture() }, keepsDisk: false),
        Scenario(name: "repair", setup: [specs()], target: specs(), damage: { h in
            // A claimed slot loses its TAP by hand, and a stray namespace of the pool's naming appears.
            let ip = NetworkCleanup.tool("ip")
            _ = CLIHarness.exec([ip, "-n", "\(h.netPrefix)-default-0", "link", "delete", "tap0"])
            _ = CLIHarness.exec([ip, "netns", "add", "\(h.netPrefix)-default-99"])
        }, keepsDisk: true),
    ]

    /// A warm Snapshot of sandbox `a`, a sandbox restored from it, a fork of `a`, or an
    /// adopted snapshot directory.
    static func memory(snapshot: Bool = false, restored: Bool = false, fork: Bool = false, adopt: Bool = false, qemu: Bool = false) -> String {
        let runtime = qemu ? ", runtime: qemu" : ""
        var text = ""
        if snapshot { text += "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: s}\nspec: {source: {sandbox: a}}\n" }
        if restored { text += "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: b}\nspec: {source: {snapshot: s}, disk: 4Gi, network: {pool: default}\(runtime)}\n" }
        if fork { text += "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: f}\nspec: {source: {fork: a}, disk: 4Gi, network: {pool: default}\(runtime)}\n" }
        if adopt { text += "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: adopted}\nspec: {source: {path: \(adoptDirectory)}, memory: false}\n" }
        return text
    }

    /// A snapshot directory Converge did not make (a disk only), for `source.path`.
    static let adoptDirectory = "/tmp/cvg-crash-adopt-fixture"
    static func adoptFixture() {
        try? FileManager.default.createDirectory(atPath: adoptDirectory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: "\(adoptDirectory)/disk.qcow2") {
            _ = CLIHarness.exec(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "\(adoptDirectory)/disk.qcow2", "1G"])
        }
    }

    /// The same changes on real guests under QEMU (the steps of its adapter).
    static let qemuScenarios: [Scenario] = {
        func q(state: String = "running", memory: String = "512Mi", policy: String = "{interval: 30s}", sandbox: Bool = true) -> String {
            specs(state: state, memory: memory, limit: "1Gi", disk: "2Gi", sandbox: sandbox, policy: policy, qemu: true)
        }
        return [
            Scenario(name: "qemu create", setup: [], target: q(), keepsDisk: false, runtime: "qemu"),
            Scenario(name: "qemu pause", setup: [q()], target: q(state: "paused"), keepsDisk: true, runtime: "qemu"),
            Scenario(name: "qemu resume", setup: [q(state: "paused")], target: q(), keepsDisk: true, runtime: "qemu"),
            Scenario(name: "qemu memory hotplug", setup: [q()], target: q(memory: "768Mi"), keepsDisk: true, runtime: "qemu"),
            Scenario(name: "qemu balloon", setup: [q()], target: q(policy: "{interval: 30s, minVM: 128Mi, buffer: 64Mi}"),
                     damage: { h in h.waitForGuestStatistics("a") }, keepsDisk: true, runtime: "qemu"),
            Scenario(name: "qemu destroy", setup: [q()], target: q(sandbox: false), keepsDisk: false, runtime: "qemu"),
            Scenario(name: "qemu suspend and restore", setup: [q(), q(state: "suspended")], target: q(), keepsDisk: true, runtime: "qemu"),
            Scenario(name: "qemu suspend", setup: [q()], target: q(state: "suspended"), keepsDisk: true, runtime: "qemu"),
        ]
    }()

    /// Which steps each scenario's target apply journals, found by running it once.
    static func discover(_ scenarios: [Scenario] = scenarios) throws -> [String: Int] {
        var firstScenario: [String: Int] = [:]
        for (i, scenario) in scenarios.enumerated() {
            let h = try CLIHarness()
            if scenario.runtime == "cuttlefish" { try h.enableCuttlefish() }
            for setup in scenario.setup {
                try h.setSpecs(setup)
                let run = h.converge("apply", h.specs)
                #expect(run.status == 0, "scenario \(scenario.name): setup: \(run.output)")
            }
            scenario.damage?(h)
            try h.setSpecs(scenario.target)
            let run = h.converge("apply", h.specs, "--allow-empty")
            #expect(run.status == 0, "scenario \(scenario.name): \(run.output)")
            for step in h.lastPassSteps() where firstScenario[step] == nil { firstScenario[step] = i }
        }
        return firstScenario
    }

    @Test("every journaled step is reached by a scenario, and a crash before or after it is survived")
    func everyStep() throws {
        try crashAtEvery(JournalStep.shared + JournalStep.memoryState + CloudHypervisor.journalSteps, of: Self.scenarios)
    }

    @Test("every Cuttlefish step on the simulator: a crash before or after it is survived")
    func everyCuttlefishStep() throws {
        try crashAtEvery(Cuttlefish.journalSteps, of: Self.cuttlefishScenarios)
    }

    @Test("every runtime's steps are covered: the shared ones, Cloud Hypervisor's, QEMU's and Cuttlefish's")
    func everyRuntime() {
        #expect(Set(JournalSteps.all) == Set(JournalStep.shared + JournalStep.memoryState + CloudHypervisor.journalSteps + QEMU.journalSteps
                                             + Cuttlefish.journalSteps))
        #expect(JournalSteps.all.count == Set(JournalSteps.all.map(\.rawValue)).count, "two steps share a name")
    }

    @Test("every QEMU step on real guests: a crash before or after it is survived", .enabled(if: TestGuest.available, TestGuest.missing))
    func everyQEMUStep() throws {
        try crashAtEvery(QEMU.journalSteps, of: Self.qemuScenarios)
    }

    /// Every step of `steps` must be reached by one of `scenarios`; each is crashed at
    /// before and after, in the first scenario that reaches it.
    private func crashAtEvery(_ steps: [JournalStep], of scenarios: [Scenario]) throws {
        let coverage = try Self.discover(scenarios)
        let uncovered = steps.map(\.rawValue).filter { coverage[$0] == nil }
        #expect(uncovered.isEmpty, "journal steps no crash scenario reaches (add one): \(uncovered)")
        for step in steps.map(\.rawValue) {
            guard let index = coverage[step] else { continue }
            for phase in ["before", "after"] {
                try crash(at: step, phase: phase, in: scenarios[index])
            }
        }
    }

    private func crash(at step: String, phase: String, in scenario: Scenario) throws {
        let label = "\(step):\(phase) in '\(scenario.name)'"
        let h = try CLIHarness()
        if scenario.runtime == "cuttlefish" { try h.enableCuttlefish() }
        for setup in scenario.setup {
            try h.setSpecs(setup)
            #expect(h.converge("apply", h.specs).status == 0, "\(label): setup")
        }
        // A Cuttlefish device's disks are cvd's: its data image in the instance directory.
        let disk = scenario.runtime == "cuttlefish" ? "\(h.instanceDirectory("cvg_a") ?? "-")/userdata.img"
            : "\(h.state)/\(scenario.runtime == "qemu" ? "qemu" : "ch")/sandboxes/cvg-a/disk.qcow2"
        let inode = (try? FileManager.default.attributesOfItem(atPath: disk))?[.systemFileNumber] as? Int
        scenario.damage?(h)
        try h.setSpecs(scenario.target)

        let crashed = h.converge(["apply", h.specs, "--allow-empty"], environment: ["CONVERGE_CRASH_AT": "\(step):1:\(phase)"])
        #expect(crashed.status == 128 + SIGKILL, "\(label): expected a SIGKILL, got \(crashed.status): \(crashed.output)")

        let recovered = h.converge("apply", h.specs, "--allow-empty")
        #expect(recovered.status == 0, "\(label): recovery apply: \(recovered.output)")
        let plan = h.converge("plan", h.specs, "--allow-empty")
        #expect(plan.status == 0, "\(label): not converged after recovery: \(plan.stdout)")
        if scenario.keepsDisk, let inode {
            let now = (try? FileManager.default.attributesOfItem(atPath: disk))?[.systemFileNumber] as? Int
            #expect(now == inode, "\(label): the disk of sandbox a was lost")
        }
        // Destroy everything: then nothing of this run may be left anywhere.
        let empty = "\(h.root)/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let destroy = h.converge("apply", empty, "--allow-empty", "--force")
        #expect(destroy.status == 0, "\(label): destroy: \(destroy.output)")
        #expect(h.leftovers().isEmpty, "\(label): leftovers \(h.leftovers())")
        #expect(h.ownProcesses().isEmpty, "\(label): VMM processes left \(h.ownProcesses())")
        let namespaces = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(h.netPrefix) }
        #expect(namespaces.isEmpty, "\(label): namespaces left \(namespaces)")
        #expect(!NetworkCleanup.links().contains { $0.hasPrefix(h.netPrefix) }, "\(label): links left")
        #expect(!CLIHarness.exec([NetworkCleanup.tool("nft"), "list", "tables"]).stdout.contains(h.netPrefix), "\(label): nft table left")
        let slots = ((try? FileManager.default.contentsOfDirectory(atPath: "\(h.state)/network/slots")) ?? [])
        #expect(slots.isEmpty, "\(label): slot records left \(slots)")
    }
}

extension CLIHarness {
    /// Waits (up to 60 s under software emulation) until the guest of sandbox `name` reports
    /// its memory through the balloon, so a balloon pass has figures to act on.
    func waitForGuestStatistics(_ name: String) {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let rows = json(converge("get", "sandboxes", name, "--json").stdout) as? [[String: Any]]
            if (rows?.first?["balloon"] as? [String: Any])?["guestUsedBytes"] is Int { return }
            usleep(200_000)
        }
    }

    /// Step names journaled by the most recent apply (read with Python's sqlite3).
    func lastPassSteps() -> [String] {
        let script = "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); print('\\n'.join(r[0] for r in db.execute('select distinct step from journal where pass=(select max(id) from passes)')))"
        return CLIHarness.exec(["/usr/bin/python3", "-c", script, "\(state)/converge.db"]).stdout.split(separator: "\n").map(String.init)
    }
}
