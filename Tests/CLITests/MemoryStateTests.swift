import Foundation
import Glibc
import Testing
@testable import Drivers

/// Memory state on real guests under QEMU. The guest's `/token` lives only in RAM (a new
/// one at every boot), so a guest that answers with an earlier token kept its memory.
@Suite("Memory state on real guests", .serialized, .enabled(if: TestGuest.available, TestGuest.missing))
struct MemoryStateTests {
    static func sandbox(_ name: String, source: String, state: String = "running") -> String {
        "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: \(name)}\nspec: {runtime: qemu, state: \(state), disk: 1Gi, source: \(source)\(source.contains("image") ? ", cpus: 1, memory: 384Mi" : "")}\n"
    }

    static func specs(golden: String = "running", snapshot: Bool = false, restored: Bool = false, fork: Bool = false, keepGolden: Bool = true) -> String {
        var text = """
        apiVersion: converge.dev/v1
        kind: TapPool
        metadata: {name: default}
        spec: {size: 3, subnet: 10.200.0.0/16, guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}}

        """
        if keepGolden { text += sandbox("golden", source: "{image: test-guest}", state: golden) }
        if snapshot { text += "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: golden.1}\nspec: {source: {sandbox: golden}}\n" }
        if restored { text += sandbox("restored", source: "{snapshot: golden.1}") }
        if fork { text += sandbox("child", source: "{fork: restored}") }
        return text
    }

    @Test("suspend keeps the token; a snapshot restores it elsewhere; a fork carries it on with its own disk; parents go, children stay")
    func memoryContinuity() throws {
        let h = try CLIHarness()
        try h.setSpecs(Self.specs())
        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 0, "\(apply.output)")
        let token = try #require(h.waitForGuest(try h.guest("golden")), "golden never answered; serial: \(h.serialTail("golden"))")

        // Suspend: the process goes, the memory file stays and shows; running again keeps the token.
        try h.setSpecs(Self.specs(golden: "suspended"))
        let suspend = h.converge("apply", h.specs)
        #expect(suspend.status == 0, "\(suspend.output)")
        let row = try #require((h.json(h.converge("get", "sandboxes", "golden", "--json").stdout) as? [[String: Any]])?.first)
        #expect(row["observedState"] as? String == "suspended")
        #expect((row["savedMemoryBytes"] as? Int ?? 0) > 1 << 20, "\(row)")
        #expect(row["pid"] == nil)
        #expect(h.converge("get", "sandboxes").stdout.contains("suspended ("))
        try h.setSpecs(Self.specs())
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.http("192.168.0.2", "/token", from: try h.guest("golden").namespace) == token)
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/qemu/sandboxes/cvg-golden/memory"), "the memory file outlived its restore")

        // A warm snapshot, and a sandbox restored from it in another slot: the same token.
        try h.setSpecs(Self.specs(snapshot: true, restored: true))
        let restore = h.converge("apply", h.specs)
        #expect(restore.status == 0, "\(restore.output)")
        let restored = try h.guest("restored")
        #expect(restored.namespace != (try h.guest("golden")).namespace)
        #expect(h.http("192.168.0.2", "/token", from: restored.namespace) == token)
        #expect(h.http("192.168.0.2", "/token", from: try h.guest("golden").namespace) == token)
        let snapshots = h.converge("get", "snapshots").stdout
        #expect(snapshots.contains("golden.1") && snapshots.contains("sandbox golden") && snapshots.contains("Sandbox/restored"), "\(snapshots)")
        #expect(h.converge("events").stdout.contains("restored from snapshot golden.1 with its memory: running"))

        // A live fork of the restored sandbox: both run with the token; the child's disk is its own.
        #expect(h.http("192.168.0.2", "/disk?write=before-fork", from: restored.namespace) == "before-fork")
        try h.setSpecs(Self.specs(snapshot: true, restored: true, fork: true))
        let fork = h.converge("apply", h.specs)
        #expect(fork.status == 0, "\(fork.output)")
        let child = try h.guest("child")
        #expect(Set([child.namespace, restored.namespace, try h.guest("golden").namespace]).count == 3)
        #expect(h.http("192.168.0.2", "/token", from: child.namespace) == token)
        #expect(h.http("192.168.0.2", "/token", from: try h.guest("restored").namespace) == token)
        #expect(h.http("192.168.0.2", "/disk", from: child.namespace) == "before-fork")
        #expect(h.http("192.168.0.2", "/disk?write=child-only", from: child.namespace) == "child-only")
        #expect(h.http("192.168.0.2", "/disk", from: try h.guest("restored").namespace) == "before-fork")
        #expect(h.converge("events").stdout.contains("ForkDowntime"))

        // The parents go (golden's file and the restored sandbox): the child keeps running on
        // an intact chain, and the snapshot stays while the child is built on it.
        try h.setSpecs(Self.specs(snapshot: true, fork: true, keepGolden: false))
        let prune = h.converge("apply", h.specs)
        #expect(prune.status == 0, "\(prune.output)")
        #expect(h.http("192.168.0.2", "/token", from: child.namespace) == token)
        #expect(h.http("192.168.0.2", "/disk", from: child.namespace) == "child-only")
        let disk = "\(h.state)/qemu/sandboxes/cvg-child/disk.qcow2"
        let check = CLIHarness.exec(["/usr/bin/qemu-img", "check", "-U", disk])
        #expect(check.status == 0, "\(check.output)")
        let chain = CLIHarness.exec(["/usr/bin/qemu-img", "info", "-U", "--backing-chain", disk])
        #expect(chain.status == 0 && chain.stdout.contains("golden.1/disk.qcow2"), "\(chain.output)")
        #expect(h.converge("plan", h.specs).status == 0, "not converged after the parents went")
    }

    @Test("examples/memory-state converges from scratch, and again once golden.yaml is deleted")
    func example() throws {
        let h = try CLIHarness()
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/memory-state").path
        try FileManager.default.removeItem(atPath: h.specs)
        try FileManager.default.copyItem(atPath: example, toPath: h.specs)
        try h.edit("network.yaml", "10.202.0.0/16", h.subnet)
        let first = h.converge("apply", h.specs)
        #expect(first.status == 0, "\(first.output)")
        #expect(h.converge("plan", h.specs).status == 0, "not converged from scratch")
        let rows = (h.json(h.converge("get", "sandboxes", "--json").stdout) as? [[String: Any]]) ?? []
        let states = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as? String ?? "", $0["observedState"] as? String ?? "") })
        #expect(states == ["golden": "running", "restored": "running", "forked": "running", "sleeper": "suspended"], "\(states)")

        try FileManager.default.removeItem(atPath: "\(h.specs)/golden.yaml")
        let second = h.converge("apply", h.specs)
        #expect(second.status == 0, "\(second.output)")
        #expect(h.converge("plan", h.specs).status == 0, "not converged once golden.yaml went")
        let after = (h.json(h.converge("get", "sandboxes", "--json").stdout) as? [[String: Any]]) ?? []
        #expect(Set(after.compactMap { $0["name"] as? String }) == ["restored", "forked", "sleeper"])
        #expect(h.converge("get", "snapshots").stdout.contains("golden.1"))
    }
}
