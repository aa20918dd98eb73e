import Foundation
import Glibc
import Testing
@testable import Drivers

/// `converge run` as a process: reacts to spec changes and VMM exits, freezes invalid
/// specs, exits 0 on SIGTERM, and survives SIGKILL in the middle of a large apply.
@Suite("converge run (daemon)", .serialized)
struct DaemonTests {
    final class Daemon {
        let pid: Int32
        let h: CLIHarness

        init(_ h: CLIHarness, specs: String? = nil) throws {
            self.h = h
            pid = try Spawn.detached([CLIHarness.product("converge"), "run", specs ?? h.specs, "--state", h.state, "--resync", "1h", "--grace", "5s"],
                                     logPath: "\(h.root)/daemon.log")
        }

        private var reaped = false

        /// A test that stops early still ends its daemon (by the PID it started), so the
        /// harness's cleanup is not locked out of the state directory.
        deinit {
            if !reaped {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }

        /// Sends `signal` and returns the exit code (128+n for a signal), or nil after `timeout`.
        func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) -> Int32? {
            defer { reaped = true }
            kill(pid, signal)
            let deadline = Date().addingTimeInterval(timeout)
            var status: Int32 = 0
            while Date() < deadline {
                if waitpid(pid, &status, WNOHANG) == pid {
                    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                }
                usleep(10_000)
            }
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return nil
        }

        var log: String { (try? String(contentsOfFile: "\(h.root)/daemon.log", encoding: .utf8)) ?? "" }
    }

    static func until(_ timeout: Double = 15, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return false
    }

    static func status(_ h: CLIHarness, _ name: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: "\(h.state)/status/Sandbox/\(name).json") else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    static func metric(_ h: CLIHarness, _ name: String) -> Double? {
        guard let text = try? String(contentsOfFile: "\(h.state)/metrics/converge.prom", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    @Test("reacts to spec changes and VMM exits, freezes an invalid file, writes status and metrics, exits 0 on SIGTERM")
    func lifecycle() throws {
        let h = try CLIHarness()
        let daemon = try Daemon(h)
        #expect(Self.until { Self.metric(h, "converge_converged") == 1 }, "\(daemon.log)")
        #expect(Self.status(h, "web-1")?["observedState"] as? String == "running")
        // A second writer is refused while the daemon runs; readers work.
        #expect(h.converge("apply", h.specs).stderr.contains("another converge apply or run"))
        #expect(h.converge("get", "sandboxes").status == 0)

        // A spec change, written as writers do (temporary file, then rename).
        let web = try String(contentsOfFile: "\(h.specs)/web.yaml", encoding: .utf8).replacingOccurrences(of: "memory: 2Gi", with: "memory: 3Gi")
        try web.write(toFile: "\(h.specs)/.web.yaml.tmp", atomically: false, encoding: .utf8)
        rename("\(h.specs)/.web.yaml.tmp", "\(h.specs)/web.yaml")
        #expect(Self.until { Self.status(h, "web-1")?["memory"] as? String == "3Gi" }, "\(daemon.log)")

        // A VMM killed by PID comes back without waiting for the resync (1h here).
        let victim = try #require(Self.status(h, "web-2")?["pid"] as? Int)
        kill(Int32(victim), SIGKILL)
        #expect(Self.until { let s = Self.status(h, "web-2"); return s?["observedState"] as? String == "running" && s?["pid"] as? Int != victim }, "\(daemon.log)")

        // A half-written file: its sandboxes freeze; nothing is destroyed; fixing it resumes.
        try "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: web-1\n".write(toFile: "\(h.specs)/web.yaml", atomically: true, encoding: .utf8)
        #expect(Self.until { h.converge("events", "web-1").stdout.contains("SpecInvalid") }, "\(daemon.log)")
        #expect(h.converge("events", "web-1").stdout.contains("web.yaml:4:1"))
        #expect(Self.status(h, "web-1")?["observedState"] as? String == "running")
        #expect(Self.status(h, "web-2")?["observedState"] as? String == "running")
        try web.write(toFile: "\(h.specs)/web.yaml", atomically: true, encoding: .utf8)
        #expect(Self.until { Self.status(h, "web-1")?["ready"] as? String == "True" }, "\(daemon.log)")

        #expect(daemon.stop(SIGTERM) == 0, "\(daemon.log)")
        #expect(daemon.log.contains("stopped"))
    }

    @Test("SIGKILL in the middle of a large apply, then a restart, converges")
    func killedDuringApply() throws {
        let h = try CLIHarness()
        var text = ""
        for i in 0..<24 {
            text += "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: s\(i)}\nspec: {cpus: 1, memory: 1Gi, disk: 2Gi, source: {image: ubuntu-base.1}, network: {pool: default}}\n---\n"
        }
        text += try String(contentsOfFile: "\(h.specs)/network.yaml", encoding: .utf8)
        try h.setSpecs(text)
        let first = try Daemon(h)
        #expect(Self.until(10) { ((try? FileManager.default.contentsOfDirectory(atPath: "\(h.state)/ch/sandboxes")) ?? []).count >= 3 })
        #expect(first.stop(SIGKILL) == 128 + SIGKILL)
        try? FileManager.default.removeItem(atPath: "\(h.state)/metrics")  // only the restarted daemon's word counts
        let second = try Daemon(h)
        #expect(Self.until(30) { Self.metric(h, "converge_converged") == 1 }, "\(second.log)")
        let running = (0..<24).filter { Self.status(h, "s\($0)")?["observedState"] as? String == "running" }
        #expect(running.count == 24, "\(second.log)")
        #expect(Self.metric(h, "converge_errors_total") == 0, "\(second.log)")
        #expect(second.stop(SIGTERM) == 0)
        #expect(h.converge("plan", h.specs).status == 0)
    }
}
