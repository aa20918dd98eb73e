import Foundation
import Glibc
import Testing
@testable import Drivers

/// `runtime: cuttlefish` through the real driver against the bundled simulator.
@Suite("Cuttlefish devices through cvd and adb", .serialized)
struct CuttlefishTests {
    func harness(_ extra: String = "") throws -> CLIHarness {
        let h = try CLIHarness()
        try h.enableCuttlefish(extra)
        return h
    }

    func apply(_ h: CLIHarness, _ specs: String, _ label: String = "apply") throws {
        try h.setSpecs(specs)
        let run = h.converge("apply", h.specs, "--allow-empty")
        #expect(run.status == 0, "\(label): \(run.output)")
    }

    func converged(_ h: CLIHarness) -> Bool {
        h.converge("plan", h.specs, "--allow-empty").status == 0
    }

    func sandbox(_ h: CLIHarness, _ name: String) -> [String: Any] {
        (h.json(h.converge("get", "sandboxes", name, "--json").stdout) as? [[String: Any]])?.first ?? [:]
    }

    @Test("create, stop, start and destroy map to cvd; the instance id and serial are recorded, shown, and reused once freed")
    func lifecycle() throws {
        let h = try harness()
        try apply(h, CLIHarness.device("web-1") + CLIHarness.device("web-2"))
        // Created concurrently: which gets the smallest id is cvd's race; each has one of 1 and 2.
        let one = try #require(h.fleet()["cvg_web_1"]?.id), two = try #require(h.fleet()["cvg_web_2"]?.id)
        #expect(Set([one, two]) == [1, 2] && h.fleet()["cvg_web_1"]?.status == "Running", "\(h.fleet())")
        let shown = try #require(sandbox(h, "web-2")["device"] as? [String: Any])
        #expect(shown["group"] as? String == "cvg_web_2" && shown["id"] as? Int == two && shown["serial"] as? String == "127.0.0.1:\(6519 + two)")
        #expect(sandbox(h, "web-2")["address"] as? String == "127.0.0.1:\(6519 + two)")
        let record = try String(contentsOfFile: "\(h.state)/cuttlefish/instances/cvg-web-2/converge.json", encoding: .utf8)
        #expect(record.contains("127.0.0.1:\(6519 + two)"), "the serial survives in the sandbox's record")
        #expect(converged(h))

        try apply(h, CLIHarness.device("web-1", "state: stopped") + CLIHarness.device("web-2"), "stop")
        #expect(h.fleet()["cvg_web_1"]?.status == "Stopped" && h.crosvm(one) == nil)
        try apply(h, CLIHarness.device("web-1") + CLIHarness.device("web-2"), "start")
        #expect(h.fleet()["cvg_web_1"]?.status == "Running" && h.fleet()["cvg_web_1"]?.id == one && h.crosvm(one) != nil)

        try apply(h, CLIHarness.device("web-2"), "destroy")
        #expect(h.fleet()["cvg_web_1"] == nil && h.crosvm(one) == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(h.root)/tmp/cf_avd_\(getuid())/cvd-\(one)"), "its runtime files go with it")
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/cuttlefish/instances/cvg-web-1"))
        try apply(h, CLIHarness.device("web-2") + CLIHarness.device("web-3"), "reuse")
        #expect(h.fleet()["cvg_web_3"]?.id == one, "the freed id is handed out again: \(h.fleet())")
        #expect(h.crosvm(two) != nil, "the other device was not touched")
    }

    @Test("health: a dead crosvm is recreated; Unreachable or Cancelled with a booted device counts as running")
    func healthLayers() throws {
        let h = try harness()
        try apply(h, CLIHarness.device("a"))
        // Layer 1 drifts, layer 2 (adb) says booted: nothing to do.
        try h.knob("status_fail", "all")
        #expect(h.fleet()["cvg_a"]?.status == "Unreachable")
        #expect(converged(h), "an Unreachable device that booted is running")
        try h.knob("status_fail", nil)
        #expect(h.sim("cfsimctl", "set-state", "cvg_a", "Cancelled").status == 0)
        #expect(converged(h), "a Cancelled device that booted is running")
        // Layer 3: the crosvm is gone; the device is made again per its spec.
        let before = try #require(h.crosvm(1))
        #expect(h.sim("cfsimctl", "kill-crosvm", "cvg_a", "--signal=KILL").status == 0)
        let plan = h.converge("plan", h.specs)
        #expect(plan.status == 2 && plan.stdout.contains("start"), "\(plan.output)")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.crosvm(1) != nil && h.crosvm(1) != before && h.fleet()["cvg_a"]?.status == "Running")
        #expect(converged(h))
    }

    @Test("a launch cancelled after boot keeps the device; a Cancelled group whose device died is started again")
    func cancelledRecovery() throws {
        let h = try harness()
        try h.knob("cancel_after_boot", "1")
        try apply(h, CLIHarness.device("a"))
        #expect(h.fleet()["cvg_a"]?.status == "Cancelled")
        try h.knob("cancel_after_boot", nil)
        #expect(converged(h))
        #expect(h.converge("events").stdout.contains("Cancelled"))
        #expect(h.sim("cfsimctl", "kill-crosvm", "cvg_a", "--signal=KILL").status == 0)
        try apply(h, CLIHarness.device("a"), "recover")
        #expect(h.fleet()["cvg_a"]?.status == "Running" && h.fleet()["cvg_a"]?.id == 1)
        #expect(converged(h))
    }

    @Test("Boot Failed is an event and a condition; the group is removed so its id is free, and the next pass creates it")
    func bootFailed() throws {
        let h = try harness()
        try h.knob("fail_next_boot", "1")
        try h.setSpecs(CLIHarness.device("a"))
        let failed = h.converge("apply", h.specs)
        #expect(failed.status == 1 && failed.output.contains("Boot Failed"), "\(failed.output)")
        #expect(h.fleet()["cvg_a"] == nil, "the failed group is removed: \(h.fleet())")
        #expect(h.converge("events").stdout.contains("BootFailed"))
        let ready = (sandbox(h, "a")["conditions"] as? [[String: Any]])?.first { $0["type"] as? String == "Ready" }
        #expect(ready?["status"] as? String == "False" && (ready?["message"] as? String)?.contains("Boot Failed") == true)
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.fleet()["cvg_a"]?.id == 1)
    }

    @Test("stale runtime files of an owned instance are cleaned before the launch that would trip on them")
    func staleFiles() throws {
        let h = try harness()
        try apply(h, CLIHarness.device("a"))
        // A crash: SIGKILL leaves the launcher socket behind, which this knob makes fatal.
        #expect(h.sim("cfsimctl", "kill-crosvm", "cvg_a", "--signal=KILL").status == 0)
        #expect(FileManager.default.fileExists(atPath: "\(h.root)/tmp/cf_avd_\(getuid())/cvd-1/launcher_monitor.sock"))
        try h.knob("stale_sockets", "fail")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.fleet()["cvg_a"]?.status == "Running" && h.fleet()["cvg_a"]?.id == 1)
        #expect(h.converge("events").stdout.contains("Started"))
    }

    @Test("CVD_MAX_INSTANCES: a create past it is Pending, never a crash, and goes ahead once a device is destroyed")
    func instanceCap() throws {
        let h = try harness("CVD_MAX_INSTANCES: 1\n")
        try h.setSpecs(CLIHarness.device("a") + CLIHarness.device("b"))
        let capped = h.converge("apply", h.specs)
        #expect(capped.status == 1 && capped.output.contains("waits for a free cuttlefish instance"), "\(capped.output)")
        #expect(h.fleet().count == 1 && h.fleet()["cvg_a"] != nil)
        #expect(sandbox(h, "b")["reason"] as? String == "Pending")
        try apply(h, CLIHarness.device("b"), "a slot frees")
        #expect(h.fleet()["cvg_b"]?.status == "Running" && h.fleet()["cvg_a"] == nil)
    }

    @Test("suspended goes through snapshot_take and stop and comes back with its data; an incompatible spec is refused with the reason")
    func suspendResume() throws {
        let h = try harness()
        try h.setSpecs(CLIHarness.device("a", "state: suspended"))
        let invalid = h.converge("validate", h.specs)
        #expect(invalid.status == 1 && invalid.output.contains("specs.yaml:5:") && invalid.output.contains("snapshotCompatible: true"), "\(invalid.output)")

        try apply(h, CLIHarness.device("a", "snapshotCompatible: true"))
        #expect(h.adb(1, "touch", "/sdcard/kept").status == 0)
        try apply(h, CLIHarness.device("a", "snapshotCompatible: true, state: suspended"), "suspend")
        #expect(h.fleet()["cvg_a"]?.status == "Stopped" && h.crosvm(1) == nil)
        #expect(FileManager.default.fileExists(atPath: "\(h.state)/cuttlefish/instances/cvg-a/memory/cvd/snapshot_meta_info.json"))
        #expect(converged(h))
        try apply(h, CLIHarness.device("a", "snapshotCompatible: true"), "resume")
        #expect(h.fleet()["cvg_a"]?.status == "Running" && h.adb(1, "ls", "/sdcard/kept").status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/cuttlefish/instances/cvg-a/memory"), "the saved state is dropped once restored")
        try apply(h, CLIHarness.device("a", "snapshotCompatible: true, state: paused"), "pause")
        #expect(sandbox(h, "a")["observedState"] as? String == "paused" && h.fleet()["cvg_a"]?.status == "Running")
        try apply(h, CLIHarness.device("a", "snapshotCompatible: true"), "unpause")
        #expect(converged(h))
    }

    @Test("a disk-only Snapshot holds the device's disk files, and a sandbox created from it has the data")
    func diskSnapshot() throws {
        let h = try harness()
        try apply(h, CLIHarness.device("a"))
        #expect(h.adb(1, "touch", "/sdcard/from-a").status == 0)
        let snapshot = "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: s}\nspec: {source: {sandbox: a}, memory: false}\n"
        try apply(h, CLIHarness.device("a") + snapshot, "snapshot")
        #expect(FileManager.default.fileExists(atPath: "\(h.state)/ch/snapshots/s/instance_data"))
        let b = "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: b}\nspec: {runtime: cuttlefish, source: {snapshot: s}, cpus: 2, memory: 2Gi, disk: 2Gi}\n"
        try apply(h, CLIHarness.device("a") + snapshot + b, "restore")
        #expect(h.fleet()["cvg_b"]?.status == "Running" && h.adb(2, "ls", "/sdcard/from-a").status == 0, "\(h.fleet())")
        #expect(converged(h))
    }

    @Test("a new cpus or memory replaces the device keeping its data, and the plan says so")
    func resizeReplaces() throws {
        let h = try harness()
        try apply(h, CLIHarness.device("a"))
        #expect(h.adb(1, "touch", "/sdcard/data").status == 0)
        try h.setSpecs(CLIHarness.device("a").replacingOccurrences(of: "cpus: 2", with: "cpus: 3"))
        let plan = h.converge("plan", h.specs)
        #expect(plan.stdout.contains("forces replacement") && plan.stdout.contains("cannot change vCPUs"), "\(plan.stdout)")
        #expect(h.converge("apply", h.specs).status == 0)
        let cmdline = String(decoding: FileManager.default.contents(atPath: "/proc/\(h.crosvm(1) ?? 0)/cmdline") ?? Data(), as: UTF8.self)
        #expect(cmdline.split(separator: "\0").joined(separator: " ").contains("--cpus 3"), "\(cmdline)")
        #expect(h.adb(1, "ls", "/sdcard/data").status == 0, "the data survived the replacement")
        #expect(converged(h))
    }

    @Test("after the database is lost the device is adopted from its record, not recreated")
    func databaseLost() throws {
        let h = try harness()
        try apply(h, CLIHarness.device("a"))
        let pid = h.crosvm(1)
        for file in ["converge.db", "converge.db-wal", "converge.db-shm"] { try? FileManager.default.removeItem(atPath: "\(h.state)/\(file)") }
        #expect(converged(h))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.crosvm(1) == pid && h.fleet().count == 1)
        #expect((sandbox(h, "a")["device"] as? [String: Any])?["serial"] as? String == "127.0.0.1:6520")
    }

    @Test("examples/android (Cloud Hypervisor and Cuttlefish sandboxes) converges in one apply, and the next plan is empty")
    func mixedExample() throws {
        let h = try harness()
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/android").path
        try? FileManager.default.removeItem(atPath: h.specs)
        try FileManager.default.copyItem(atPath: example, toPath: h.specs)
        let network = "\(h.specs)/network.yaml"
        try (try String(contentsOfFile: network, encoding: .utf8)).replacingOccurrences(of: "10.200.0.0/16", with: h.subnet)
            .write(toFile: network, atomically: true, encoding: .utf8)
        let run = h.converge("apply", h.specs)
        #expect(run.status == 0, "\(run.output)")
        #expect(converged(h))
        #expect(h.fleet().count == 2)
    }
}
