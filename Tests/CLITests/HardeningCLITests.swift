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
