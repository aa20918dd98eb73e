import Foundation
import Glibc
import Testing
@testable import Drivers

/// Issue 14 §1, reproduced through the real binary: bad input never costs a sandbox.
@Suite("Hardening through the command line", .serialized)
struct HardeningCLITests {
    @Test("database lost and a spec file truncated mid-line: plan and apply destroy nothing")
    func truncatedFileWithoutDatabase() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        let pids = h.vmmPIDs().sorted()
        #expect(pids.count == 3)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: "\(h.state)/converge.db\(suffix)") }
        let worker = "\(h.specs)/worker.yaml"
        let text = try String(contentsOfFile: worker, encoding: .utf8)
        try String(text.prefix(text.count * 2 / 3)).write(toFile: worker, atomically: true, encoding: .utf8)

        let plan = h.converge("plan", h.specs)
        #expect(plan.status == 1, "\(plan.output)")
        #expect(!plan.stdout.contains(" destroy:"), "\(plan.stdout)")
        #expect(plan.stdout.contains("Prunes are held") && plan.stdout.contains("worker.yaml"), "\(plan.stdout)")
        #expect(plan.stdout.contains("Sandbox/worker-1 is kept"), "\(plan.stdout)")
        let json = try #require(h.json(h.converge("plan", h.specs, "--json").stdout) as? [String: Any])
        #expect((json["pruneHold"] as? String)?.contains("worker.yaml") == true)

        let apply = h.converge("apply", h.specs, "--force")
        #expect(apply.status == 1, "\(apply.output)")
        #expect(apply.stdout.contains("Prunes held"), "\(apply.stdout)")
        #expect(h.vmmPIDs().sorted() == pids, "a sandbox was destroyed or restarted")
        #expect(pids.allSatisfy { kill($0, 0) == 0 })
        let status = h.converge("status")
        #expect(status.stdout.contains("worker-1: PruneHeld"), "\(status.stdout)")

        // The file comes back whole: nothing to do.
        try text.write(toFile: worker, atomically: true, encoding: .utf8)
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.vmmPIDs().sorted() == pids)
    }

    @Test("plan reports leftovers and removes nothing; apply removes them under the lock")
    func planChangesNothing() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        let ghost = "\(h.state)/ch/sandboxes/cvg-ghost"
        try FileManager.default.createDirectory(atPath: ghost, withIntermediateDirectories: true)
        let abandoned = "\(h.state)/network/slots/default-0.json.tmp.999999999"
        try Data("{".utf8).write(to: URL(fileURLWithPath: abandoned))
        let plan = h.converge("plan", h.specs)
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("! leftover \(ghost) belongs to no sandbox"), "\(plan.stdout)")
        #expect(FileManager.default.fileExists(atPath: ghost) && FileManager.default.fileExists(atPath: abandoned))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(!FileManager.default.fileExists(atPath: ghost))
        #expect(!h.converge("plan", h.specs).stdout.contains("leftover"))
    }

    @Test("a replacement onto a missing image is an error in plan, and apply leaves the running VM alone")
    func replacementOntoMissingImage() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        let pids = h.vmmPIDs().sorted()
        try h.edit("worker.yaml", "image: ubuntu-base.1", "image: ubuntu-base.9")
        let plan = h.converge("plan", h.specs)
        #expect(!plan.stdout.contains("-/+"), "\(plan.stdout)")
        #expect(plan.stdout.contains("! Sandbox/worker-1: not replaced") && plan.stdout.contains("ubuntu-base.9"), "\(plan.stdout)")
        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 1, "\(apply.output)")
        #expect(h.vmmPIDs().sorted() == pids, "the running VM was touched")
        let rows = try #require(h.json(h.converge("get", "sandboxes", "worker-1", "--json").stdout) as? [[String: Any]])
        #expect(rows.first?["observedState"] as? String == "paused")
        #expect(rows.first?["reason"] as? String == "ReplacementBlocked", "\(rows)")
    }
}

/// Issue 14 §2: one host, several state directories.
@Suite("Several state directories on one host", .serialized)
struct SharedHostTests {
    static func namespace(of pid: Int32) -> String {
        CLIHarness.exec([NetworkCleanup.tool("ip"), "netns", "identify", "\(pid)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("a second state directory with the same network prefix is refused and takes over nothing")
    func secondStateDirectoryRefused() throws {
        let first = try CLIHarness()
        #expect(first.converge("apply", first.specs).status == 0)
        let placed = Dictionary(uniqueKeysWithValues: first.vmmPIDs().map { ($0, Self.namespace(of: $0)) })
        #expect(placed.count == 3 && Set(placed.values).count == 3)

        let second = try CLIHarness(sharingPrefixOf: first)
        // A copy of the first state directory carries its installation id: still another one.
        try FileManager.default.createDirectory(atPath: "\(second.state)/network", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(first.state)/network/installation-id", toPath: "\(second.state)/network/installation-id")
        let refused = second.converge("apply", second.specs)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("network prefix '\(first.netPrefix)' belongs to another state directory"), "\(refused.output)")
        #expect(second.vmmPIDs().isEmpty)
        #expect(second.converge("events", "default").stdout.contains("belongs to another state directory"))

        // The first is untouched: same VMMs in the same namespaces, nothing to do.
        #expect(Dictionary(uniqueKeysWithValues: first.vmmPIDs().map { ($0, Self.namespace(of: $0)) }) == placed)
        let noop = first.converge("plan", first.specs)
        #expect(noop.status == 0, "\(noop.output)")
    }

    @Test("a VMM whose slot namespace was deleted and made again is not Ready, and the next apply restarts it there")
    func vmmOutsideItsNamespace() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        let row = try #require((h.json(h.converge("get", "sandboxes", "web-1", "--json").stdout) as? [[String: Any]])?.first)
        let pid = try #require(row["pid"] as? Int)
        let ns = try #require(row["namespace"] as? String)
        #expect(Self.namespace(of: Int32(pid)) == ns)
        let ip = NetworkCleanup.tool("ip")
        #expect(CLIHarness.exec([ip, "netns", "delete", ns]).status == 0)
        #expect(CLIHarness.exec([ip, "netns", "add", ns]).status == 0)

        let plan = h.converge("plan", h.specs)
        #expect(plan.status == 2, "\(plan.output)")
        #expect(plan.stdout.contains("does not run in its slot's network namespace \(ns)"), "\(plan.stdout)")
        #expect(plan.stdout.contains("Sandbox/web-1 start"), "\(plan.stdout)")
        let rows = try #require(h.json(h.converge("get", "sandboxes", "web-1", "--json").stdout) as? [[String: Any]])
        #expect(rows.first?["observedState"] as? String == "unresponsive")

        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 0, "\(apply.output)")
        let after = try #require((h.json(h.converge("get", "sandboxes", "web-1", "--json").stdout) as? [[String: Any]])?.first)
        let newPID = try #require(after["pid"] as? Int)
        #expect(newPID != pid && Self.namespace(of: Int32(newPID)) == ns)
        #expect(h.converge("plan", h.specs).status == 0)
    }
}
