import Foundation
import Glibc
import Testing
@testable import Drivers

/// Snapshots, restores, forks and suspend on Cloud Hypervisor, through the real binary and
/// the simulator (which serves vm.snapshot and vm.restore from the API's own rules).
@Suite("Snapshots and forks on Cloud Hypervisor", .serialized)
struct SnapshotCLITests {
    typealias Specs = CrashSafetyTests

    static func snapshotRow(_ h: CLIHarness, _ name: String) -> [String: Any]? {
        (h.json(h.converge("get", "snapshots", name, "--json").stdout) as? [[String: Any]])?.first
    }

    @Test("capture, restore and fork: the manifest, the request the VMM got, who holds what, and removal once nothing does")
    func captureRestoreFork() throws {
        let h = try CLIHarness()
        try h.setSpecs(Specs.specs(poolSize: 3))
        #expect(h.converge("apply", h.specs).status == 0)
        let log = "\(h.root)/requests.log"
        try h.setSpecs(Specs.specs(poolSize: 3, extra: Specs.memory(snapshot: true, restored: true, fork: true)))
        let apply = h.converge(["apply", h.specs], environment: ["CH_SIM_REQUEST_LOG": log])
        #expect(apply.status == 0, "\(apply.output)")

        // The snapshot: its files, a manifest of Converge's own, and who is built on its disk.
        let directory = "\(h.state)/ch/snapshots/s"
        for file in ["config.json", "state.json", "memory-ranges", "disk.qcow2", "manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/\(file)"), "\(file) missing")
        }
        let manifest = try #require(h.json(try String(contentsOfFile: "\(directory)/manifest.json", encoding: .utf8)) as? [String: Any])
        #expect(manifest["runtime"] as? String == "cloud-hypervisor" && manifest["memory"] as? Bool == true && manifest["source"] as? String == "sandbox a")
        let files = try #require(manifest["files"] as? [[String: Any]])
        #expect(files.contains { $0["name"] as? String == "config.json" && ($0["sha256"] as? String)?.count == 64 })
        let row = try #require(Self.snapshotRow(h, "s"))
        #expect(row["memorySaved"] as? Bool == true && (row["sizeOnDiskBytes"] as? Int ?? 0) > 0)
        // a moved on to an overlay of it, b was restored from it, f forked from a since.
        #expect(row["usedBy"] as? [String] == ["Sandbox/a", "Sandbox/b", "Sandbox/f"], "\(row)")

        // The restore pointed CH at b's own disk and files, and asked for on-demand memory.
        let requests = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let restores = requests.split(separator: "\n").filter { $0.contains("vm.restore") }
        // a's relaunch after the capture, b's restore, f's restore, a's relaunch after the fork.
        #expect(restores.count == 4, "\(restores)")
        #expect(restores.allSatisfy { $0.contains("OnDemand") })
        let chain = CLIHarness.exec(["/usr/bin/qemu-img", "info", "-U", "--backing-chain", "\(h.state)/ch/sandboxes/cvg-b/disk.qcow2"])
        #expect(chain.stdout.contains("snapshots/s/disk.qcow2") && chain.stdout.contains("ubuntu-base.1"), "\(chain.output)")
        let events = h.converge("events").stdout
        #expect(events.contains("Restored") && events.contains("ForkDowntime"), "\(events)")

        // Dropping the Snapshot from the specs keeps it while sandboxes are built on it.
        try h.setSpecs(Specs.specs(poolSize: 3, extra: Specs.memory(restored: true, fork: true)))
        let held = h.converge("apply", h.specs)
        #expect(held.output.contains("Snapshot/s") && held.output.contains("built on its disk"), "\(held.output)")
        #expect(FileManager.default.fileExists(atPath: "\(directory)/manifest.json"))

        // Without the sandboxes, it goes, with every layer only they needed.
        try h.setSpecs(Specs.specs(sandbox: false, poolSize: 3))
        let gone = h.converge("apply", h.specs)
        #expect(gone.status == 0, "\(gone.output)")
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/sandboxes/.cvg-layers"))
        #expect(h.leftovers().isEmpty, "\(h.leftovers())")
    }

    @Test("without userfaultfd the restore copies memory, and says so in an event")
    func copyFallback() throws {
        let h = try CLIHarness()
        try h.setSpecs(Specs.specs(poolSize: 2))
        #expect(h.converge("apply", h.specs).status == 0)
        try h.setSpecs(Specs.specs(poolSize: 2, extra: Specs.memory(snapshot: true, restored: true)))
        let apply = h.converge(["apply", h.specs], environment: ["CH_SIM_USERFAULTFD": "0"])
        #expect(apply.status == 0, "\(apply.output)")
        #expect(h.converge("events").stdout.contains("RestoreCopied"))
        #expect(h.converge("get", "sandboxes", "b").stdout.contains("running"))
    }

    @Test("a warm snapshot directory Converge did not make is adopted by link, restored from, and left as it was")
    func adoptWarmDirectory() throws {
        let h = try CLIHarness()
        try h.setSpecs(Specs.specs(poolSize: 2, extra: Specs.memory(snapshot: true)))
        #expect(h.converge("apply", h.specs).status == 0)
        // A runner's snapshot: CH's three files and a disk, no manifest.
        let source = "\(h.root)/runner-snapshot"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for file in ["config.json", "state.json", "memory-ranges"] {
            try FileManager.default.copyItem(atPath: "\(h.state)/ch/snapshots/s/\(file)", toPath: "\(source)/\(file)")
        }
        #expect(CLIHarness.exec(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "\(source)/disk.qcow2", "1G"]).status == 0)
        let adopted = "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: runner.1}\nspec: {source: {path: \(source)}}\n"
            + "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: c}\nspec: {source: {snapshot: runner.1}, disk: 4Gi, network: {pool: default}}\n"
        try h.setSpecs(Specs.specs(poolSize: 2, extra: Specs.memory(snapshot: true) + adopted))
        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 0, "\(apply.output)")
        let row = try #require(Self.snapshotRow(h, "runner.1"))
        #expect(row["memorySaved"] as? Bool == true && row["source"] as? String == "path \(source)", "\(row)")
        #expect(h.converge("get", "sandboxes", "c").stdout.contains("running"))
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "\(h.state)/ch/snapshots/runner.1/memory-ranges")
        #expect(link == "\(source)/memory-ranges")

        try h.setSpecs(Specs.specs(sandbox: false, poolSize: 2))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/snapshots/runner.1"))
        for file in ["config.json", "state.json", "memory-ranges", "disk.qcow2"] {
            #expect(FileManager.default.fileExists(atPath: "\(source)/\(file)"), "the adopted \(file) was removed")
        }
    }

    @Test("suspend writes the memory and ends the VMM; running again restores it and drops the file; stopped drops it too")
    func suspendAndBack() throws {
        let h = try CLIHarness()
        try h.setSpecs(Specs.specs())
        #expect(h.converge("apply", h.specs).status == 0)
        try h.setSpecs(Specs.specs(state: "suspended"))
        #expect(h.converge("apply", h.specs).status == 0)
        let row = try #require((h.json(h.converge("get", "sandboxes", "a", "--json").stdout) as? [[String: Any]])?.first)
        #expect(row["observedState"] as? String == "suspended" && row["pid"] == nil, "\(row)")
        #expect(FileManager.default.fileExists(atPath: "\(h.state)/ch/sandboxes/cvg-a/memory/memory-ranges"))
        #expect(h.vmmPIDs().isEmpty || h.ownProcesses().isEmpty)
        #expect(h.converge("plan", h.specs).status == 0)

        try h.setSpecs(Specs.specs(state: "paused"))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.converge("get", "sandboxes", "a").stdout.contains("paused"))
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/sandboxes/cvg-a/memory"))

        try h.setSpecs(Specs.specs(state: "suspended"))
        #expect(h.converge("apply", h.specs).status == 0)
        try h.setSpecs(Specs.specs(state: "stopped"))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/sandboxes/cvg-a/memory"), "suspended → stopped keeps no memory")
        #expect(h.converge("plan", h.specs).status == 0)
    }
}
