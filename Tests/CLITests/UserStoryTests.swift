import Foundation
import Glibc
import Testing
@testable import Drivers

/// The user story of the core issue, step by step, through the real binary.
@Suite("converge command line", .serialized)
struct UserStoryTests {
    @Test("apply, no-op plan, resize, replace, destroy, drift repair, then nothing left")
    func userStory() async throws {
        let h = try CLIHarness()

        // 1. apply the quickstart: three sandboxes running (one paused as its spec says).
        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 0, "\(apply.output)")
        let get = h.converge("get", "sandboxes", "--json")
        let rows = try #require(h.json(get.stdout) as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["web-1", "web-2", "worker-1"])
        #expect(rows.map { $0["observedState"] as? String } == ["running", "running", "paused"])
        #expect(rows.allSatisfy { $0["ready"] as? String == "True" && ($0["pid"] as? Int ?? 0) > 0 })
        // Each VMM runs inside its own slot's namespace.
        let spaces = rows.compactMap { row in (row["pid"] as? Int).map { CLIHarness.exec([NetworkCleanup.tool("ip"), "netns", "identify", "\($0)"]).stdout } }
        #expect(Set(spaces).count == 3 && spaces.allSatisfy { $0.hasPrefix("\(h.netPrefix)-default-") }, "\(spaces)")
        #expect(rows.allSatisfy { ($0["address"] as? String)?.hasPrefix("10.\(h.subnetOctet).") == true })
        #expect(h.converge("get", "sandboxes").stdout.contains("web-1"))

        // 2. plan right after: no changes, exit 0.
        let noop = h.converge("plan", h.specs)
        #expect(noop.status == 0)
        #expect(noop.stdout.lowercased().contains("no changes"))

        // 3. memory within limits: an in-place change.
        try h.edit("web.yaml", "memory: 2Gi", "memory: 3Gi")
        let resize = h.converge("plan", h.specs)
        #expect(resize.status == 2)
        #expect(resize.stdout.contains("~   Sandbox/web-1 resize"), "\(resize.stdout)")
        #expect(resize.stdout.contains("memory: 2Gi → 3Gi"))
        let pidBefore = h.vmmPIDs().sorted()
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.vmmPIDs().sorted() == pidBefore, "an in-place resize must not restart any VMM")

        // 4. another image: a replacement, said so.
        try h.edit("worker.yaml", "image: ubuntu-base.1", "image: ubuntu-base.2")
        let replace = h.converge("plan", h.specs)
        #expect(replace.stdout.contains("-/+ Sandbox/worker-1 replace"), "\(replace.stdout)")
        #expect(replace.stdout.contains("forces replacement"))
        let planJSON = try #require(h.json(h.converge("plan", h.specs, "--json").stdout) as? [String: Any])
        let actions = try #require(planJSON["actions"] as? [[String: Any]])
        #expect(actions.contains { $0["kind"] as? String == "Sandbox" && $0["name"] as? String == "worker-1" && $0["action"] as? String == "replace" && $0["reason"] is String })
        #expect(h.converge("apply", h.specs).status == 0)

        // 5. a deleted file: a destroy.
        try FileManager.default.removeItem(atPath: "\(h.specs)/worker.yaml")
        let destroy = h.converge("plan", h.specs)
        #expect(destroy.stdout.contains("-   Sandbox/worker-1 destroy"), "\(destroy.stdout)")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/sandboxes/cvg-worker-1"))

        // 6. kill a VMM by its PID: the next apply notices, records an event, brings it back.
        let victim = try #require((h.json(h.converge("get", "sandboxes", "web-2", "--json").stdout) as? [[String: Any]])?.first?["pid"] as? Int)
        kill(Int32(victim), SIGKILL)
        // SIGKILL is delivered asynchronously and the VMM is not our child (no waitpid): wait
        // until /proc shows it gone or a zombie, so the apply below sees a dead VMM.
        let killDeadline = Date().addingTimeInterval(10)
        while !CLIUserStoryHelpers.isZombie(Int32(victim)) && Date() < killDeadline { try await Task.sleep(nanoseconds: 10_000_000) }
        try #require(CLIUserStoryHelpers.isZombie(Int32(victim)), "VMM \(victim) survived SIGKILL")
        let repair = h.converge("apply", h.specs)
        #expect(repair.status == 0, "\(repair.output)")
        let events = h.converge("events", "web-2")
        #expect(events.stdout.contains("VMMExited"), "\(events.stdout)")
        let after = try #require((h.json(h.converge("get", "sandboxes", "web-2", "--json").stdout) as? [[String: Any]])?.first)
        #expect(after["observedState"] as? String == "running" && after["pid"] as? Int != victim)

        // 7. destroy everything: nothing of Converge's is left.
        let pids = h.vmmPIDs()
        try FileManager.default.removeItem(atPath: h.specs)
        try FileManager.default.createDirectory(atPath: h.specs, withIntermediateDirectories: true)
        let refused = h.converge("apply", h.specs)
        #expect(refused.status == 1 && refused.stderr.contains("--allow-empty"))
        #expect(h.vmmPIDs().count == 2)
        #expect(h.converge("apply", h.specs, "--allow-empty").status == 0)
        #expect(h.leftovers().isEmpty, "\(h.leftovers())")
        // The host's network is as it was: no namespace, link or table of this run.
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        #expect(!namespaces.contains { $0.hasPrefix(h.netPrefix) }, "\(namespaces)")
        #expect(!NetworkCleanup.links().contains { $0.hasPrefix(h.netPrefix) })
        #expect(CLIHarness.exec([NetworkCleanup.tool("nft"), "list", "tables"]).stdout.contains(h.netPrefix) == false)
        for pid in pids { #expect(kill(pid, 0) != 0 || CLIUserStoryHelpers.isZombie(pid), "VMM \(pid) still runs") }
    }

    @Test("validate prints every error with file, line, column, the line and a caret; exit 1")
    func validate() throws {
        let h = try CLIHarness()
        #expect(h.converge("validate", h.specs).status == 0)
        try h.edit("web.yaml", "cpus: 2", "cpus: 0")
        try h.edit("worker.yaml", "state: paused", "state: sleeping")
        let run = h.converge("validate", h.specs)
        #expect(run.status == 1)
        #expect(run.stderr.contains("web.yaml:10:9: error: spec.cpus must be between 1 and 256, found 0\n      cpus: 0\n            ^"), "\(run.stderr)")
        #expect(run.stderr.contains("worker.yaml:8:10: error: spec.state must be one of"))
        let json = try #require(h.json(h.converge("validate", h.specs, "--json").stdout) as? [String: Any])
        #expect(json["valid"] as? Bool == false && (json["diagnostics"] as? [Any])?.count == 2)
    }

    @Test("a broken spec file freezes its sandboxes: nothing is destroyed, the rest converges")
    func freeze() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        try "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: web-1\n".write(toFile: "\(h.specs)/web.yaml", atomically: true, encoding: .utf8)
        try h.edit("worker.yaml", "cpus: 2", "cpus: 1")
        let run = h.converge("apply", h.specs)
        #expect(run.status == 1)
        #expect(run.stderr.hasPrefix("\(h.specs)/web.yaml:4:1: error: YAML syntax error: ") && run.stderr.contains("1 error in 1 file; their resources are held at their last good spec"), "\(run.stderr)")
        #expect(!run.output.contains("destroy"), "\(run.output)")
        let rows = try #require(h.json(h.converge("get", "sandboxes", "--json").stdout) as? [[String: Any]])
        #expect(rows.map { $0["observedState"] as? String } == ["running", "running", "paused"])
        #expect(h.converge("plan", h.specs).stdout.contains("held at its last good spec"))
    }

    @Test("usage errors exit 64; help exits 0")
    func usage() throws {
        let h = try CLIHarness()
        #expect(h.converge("frobnicate").status == 64)
        #expect(h.converge("plan").status == 64)
        #expect(h.converge("get", "gadgets").status == 64)
        #expect(h.converge("apply", h.specs, "--max-destroy", "x").status == 64)
        #expect(CLIHarness.exec([CLIHarness.product("converge"), "--help"]).status == 0)
    }

    @Test("a second writer on the same state directory is refused; readers still work")
    func singleWriter() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        // flock keeps the lock until it is killed; its `sleep` child shares the lock, so the
        // whole process group goes.
        let holder = try Spawn.detached([NetworkCleanup.tool("flock"), "\(h.state)/converge.lock", "sleep", "120"], logPath: "/dev/null")
        defer {
            kill(-holder, SIGKILL)
            var status: Int32 = 0
            waitpid(holder, &status, 0)
        }
        // Wait until the holder has the lock: a non-blocking flock of our own is refused then.
        let lockDeadline = Date().addingTimeInterval(10)
        var held: Bool { CLIHarness.exec([NetworkCleanup.tool("flock"), "--nonblock", "\(h.state)/converge.lock", "true"]).status != 0 }
        while !held && Date() < lockDeadline { usleep(10_000) }
        try #require(held, "flock never took \(h.state)/converge.lock")
        let second = h.converge("apply", h.specs)
        #expect(second.status == 1 && second.stderr.contains("another converge apply or run"), "\(second.output)")
        #expect(h.converge("get", "sandboxes").status == 0)
    }
}

enum CLIUserStoryHelpers {
    /// Gone or a zombie: either way, no longer running.
    static func isZombie(_ pid: Int32) -> Bool { ProcFS.stat(pid).map { $0.state == "Z" } ?? true }
}

@Suite("Losing the database and driver faults", .serialized)
struct RecoveryTests {
    @Test("a lost database is rebuilt from the host: every sandbox and slot is adopted, nothing is destroyed")
    func lostDatabase() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        let pids = h.vmmPIDs().sorted()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: "\(h.state)/converge.db\(suffix)") }
        let plan = h.converge("plan", h.specs, "--json")
        let actions = try #require((h.json(plan.stdout) as? [String: Any])?["actions"] as? [[String: Any]])
        // Only the BalloonPolicy, a record kept in the database, is applied again.
        #expect(actions.map { "\($0["kind"] ?? "")/\($0["name"] ?? "") \($0["action"] ?? "")" } == ["BalloonPolicy/default create"], "\(actions)")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.vmmPIDs().sorted() == pids, "a sandbox was restarted or replaced after the database was lost")
        #expect(h.converge("plan", h.specs).status == 0)
    }

    @Test("qemu-img failing is a condition and a retry, never a crash")
    func qemuImgFails() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        // Growing a disk runs qemu-img (overlays are written in process).
        try h.edit("web.yaml", "  disk: 20Gi\n", "  state: stopped\n  disk: 24Gi\n")
        let failing = h.converge(["apply", h.specs], environment: ["QEMU_IMG": "/bin/false"])
        #expect(failing.status == 1, "\(failing.output)")
        #expect(failing.stdout.contains("disk.grow"), "\(failing.stdout)")
        let rows = try #require(h.json(h.converge("get", "sandboxes", "--json").stdout) as? [[String: Any]])
        let conditions = rows.first { $0["name"] as? String == "web-1" }?["conditions"] as? [[String: Any]] ?? []
        #expect(conditions.contains { $0["type"] as? String == "Degraded" && $0["status"] as? String == "True" && $0["reason"] as? String == "ActionFailed" })
        #expect(h.converge("events", "web-1").stdout.contains("GrowDiskFailed"))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.converge("plan", h.specs).status == 0)
    }
}

@Suite("Driver faults and churn", .serialized)
struct FaultTests {
    @Test("a VMM API call past its deadline is a condition and a retry, never a hang or a crash")
    func apiTimeout() throws {
        let h = try CLIHarness()
        // The simulated VMM answers vm.boot after 3 s; Converge waits 1 s.
        let slow = h.converge(["apply", h.specs], environment: ["CH_API_TIMEOUT": "1s", "CH_SIM_DELAY_MS_VM_BOOT": "3000"])
        #expect(slow.status == 1, "\(slow.output)")
        #expect(slow.stdout.contains("ch.vm.boot") && slow.stdout.contains("within 1.0s"), "\(slow.stdout)")
        #expect(h.converge("events", "web-1").stdout.contains("CreateFailed"))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.converge("plan", h.specs).status == 0)
    }

    @Test("no space left for an overlay is a condition and a retry; nothing crashes, nothing leaks")
    func noSpace() throws {
        let h = try CLIHarness()
        let sandboxes = "\(h.state)/ch/sandboxes"
        try FileManager.default.createDirectory(atPath: sandboxes, withIntermediateDirectories: true)
        // A 64 KiB filesystem: metadata fits, a qcow2 overlay does not.
        #expect(CLIHarness.exec([NetworkCleanup.tool("mount"), "-t", "tmpfs", "-o", "size=64k", "tmpfs", sandboxes]).status == 0)
        let full = h.converge("apply", h.specs)
        #expect(CLIHarness.exec([NetworkCleanup.tool("umount"), sandboxes]).status == 0)
        #expect(full.status == 1, "\(full.output)")
        // Every sandbox's create fails for want of space, and says so: at its overlay, or at
        // its record while the others' overlays hold the space for a moment (they run at once).
        let lines = full.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(full.stdout.hasPrefix("Apply incomplete: ") && full.stdout.contains(", 3 failed,"), "\(full.stdout)")
        for name in ["web-1", "web-2", "worker-1"] {
            #expect(lines.contains { $0.hasPrefix("Sandbox/\(name): create failed at step ") && $0.contains(": No space left on device") }, "\(name): \(full.stdout)")
        }
        #expect(lines.contains { $0.contains("create failed at step disk.overlay.create: ") }, "\(full.stdout)")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.converge("plan", h.specs).status == 0)
    }

    @Test("a short churn soak: sandboxes created and destroyed in rounds leave zero leaks")
    func churn() throws {
        let h = try CLIHarness()
        var many = try String(contentsOfFile: "\(h.specs)/network.yaml", encoding: .utf8)
        for i in 0..<12 {
            many += "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: c\(i)}\nspec: {cpus: 1, memory: 1Gi, disk: 2Gi, source: {image: ubuntu-base.1}, network: {pool: default}}\n"
        }
        let empty = "\(h.root)/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for round in 0..<4 {
            try h.setSpecs(many)
            #expect(h.converge("apply", h.specs).status == 0, "round \(round)")
            #expect(h.ownProcesses().count == 12, "round \(round)")
            #expect(h.converge("apply", empty, "--allow-empty", "--force").status == 0, "round \(round)")
            #expect(h.leftovers().isEmpty && h.ownProcesses().isEmpty, "round \(round): \(h.leftovers())")
            let namespaces = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(h.netPrefix) }
            #expect(namespaces.isEmpty && !NetworkCleanup.links().contains { $0.hasPrefix(h.netPrefix) }, "round \(round): \(namespaces)")
        }
    }
}
