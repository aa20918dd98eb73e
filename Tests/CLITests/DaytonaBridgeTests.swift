import Foundation
import Glibc
import Testing
@testable import Drivers

/// `converge daytona` against the stand-in control plane, beside `converge run` on the
/// Cloud Hypervisor simulator: jobs become spec files, observed state becomes results.
@Suite("Daytona bridge (converge daytona)", .serialized)
struct DaytonaBridgeTests {
    static let token = "s3cret-runner-token-\(UUID().uuidString.prefix(8))"

    static func create(_ id: String, cpu: Int = 1, memory: Int = 1, disk: Int = 3, snapshot: String = "ubuntu-base.1") -> String {
        "{\"id\": \"\(id)\", \"userId\": \"org-1\", \"snapshot\": \"\(snapshot)\", \"osUser\": \"daytona\", \"cpuQuota\": \(cpu), \"memoryQuota\": \(memory), \"storageQuota\": \(disk), \"sandboxClass\": \"linux-vm\"}"
    }

    /// Everything a test needs: a harness, the stand-in, the daemon on the bridge's directory, the bridge.
    final class Setup {
        let h: CLIHarness
        let cp: StandIn
        let tokenFile: String
        var daemon: DaemonTests.Daemon?
        var bridge: Bridge?

        init(daemon startDaemon: Bool = true, token: String = DaytonaBridgeTests.token) throws {
            h = try CLIHarness()
            cp = try StandIn(root: h.root, token: DaytonaBridgeTests.token)
            tokenFile = try h.tokenFile(token)
            try FileManager.default.createDirectory(atPath: h.bridgeDir, withIntermediateDirectories: true)
            bridge = try Bridge(h, dir: h.bridgeDir, url: cp.url, tokenFile: tokenFile)
            if startDaemon { daemon = try DaemonTests.Daemon(h, specs: h.bridgeDir) }
        }

        /// Enqueues, waits, and returns the finished job.
        func run(_ type: String, _ id: String, payload: String? = nil) throws -> [String: Any] {
            cp.finished(try cp.enqueue(type, id, payload: payload))
        }

        var logs: String { "bridge:\n\(bridge?.log ?? "")\ndaemon:\n\(daemon?.log ?? "")" }

        deinit {
            bridge?.stop()
            _ = daemon?.stop()
        }
    }

    static func status(_ j: [String: Any]) -> String { j["status"] as? String ?? "?" }

    static func metadata(_ j: [String: Any]) -> [String: Any]? {
        (j["resultMetadata"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test("the v2 cycle: create, stop, start, resize, snapshot, fork, pause, destroy; results as the reference shapes them; the emptied directory converges without --allow-empty")
    func cycle() throws {
        let s = try Setup()
        let a = "3f2a9c1e-aaaa-4000-8000-000000000001", b = "3f2a9c1e-bbbb-4000-8000-000000000002"
        var j = try s.run("CREATE_SANDBOX", a, payload: Self.create(a))
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
        #expect(Self.metadata(j)?["daemonVersion"] is String)
        #expect(DaemonTests.status(s.h, a)?["observedState"] as? String == "running")
        #expect(DaemonTests.status(s.h, a)?["memory"] as? String == "1Gi")

        j = try s.run("STOP_SANDBOX", a, payload: "{}")
        #expect(Self.status(j) == "COMPLETED" && j["resultMetadata"] is NSNull, "\(j)")
        #expect(DaemonTests.status(s.h, a)?["observedState"] as? String == "stopped")

        j = try s.run("START_SANDBOX", a, payload: "{}")
        #expect(Self.status(j) == "COMPLETED" && Self.metadata(j)?["daemonVersion"] is String, "\(j)")
        #expect(DaemonTests.status(s.h, a)?["observedState"] as? String == "running")

        j = try s.run("RESIZE_SANDBOX", a, payload: "{\"cpu\": 2, \"memory\": 2}")
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
        #expect(DaemonTests.status(s.h, a)?["cpus"] as? Int == 2)
        #expect(DaemonTests.status(s.h, a)?["memory"] as? String == "2Gi")

        j = try s.run("SNAPSHOT_SANDBOX", a, payload: "{\"sandboxId\": \"\(a)\", \"name\": \"snap-1\", \"organizationId\": \"org-1\", \"includeMemory\": true}")
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
        #expect(Self.metadata(j)?["ref"] as? String == "snap-1" && Self.metadata(j)?["hash"] is String && Self.metadata(j)?["sizeGB"] is Double)

        j = try s.run("FORK_SANDBOX", b, payload: "{\"sourceSandboxId\": \"\(a)\", \"newSandboxId\": \"\(b)\"}")
        #expect(Self.status(j) == "COMPLETED" && Self.metadata(j)?["daemonVersion"] is String, "\(j) \(s.logs)")
        #expect(DaemonTests.status(s.h, b)?["observedState"] as? String == "running")

        j = try s.run("PAUSE_SANDBOX", b, payload: "{\"sandboxId\": \"\(b)\"}")
        #expect(Self.status(j) == "COMPLETED" && Self.metadata(j)?.isEmpty == true, "\(j)")
        #expect(DaemonTests.status(s.h, b)?["observedState"] as? String == "paused")

        for id in [b, a] {
            j = try s.run("DESTROY_SANDBOX", id)
            #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
            #expect(DaemonTests.status(s.h, id) == nil)
        }
        // Only the snapshot is left; remove it as an operator would: the directory is then
        // empty, and the daemon (no --allow-empty) destroys it because the marker is there.
        #expect(s.h.bridgeFiles() == [".converge-allow-empty", "snapshot-snap-1.yaml"])
        try FileManager.default.removeItem(atPath: "\(s.h.bridgeDir)/snapshot-snap-1.yaml")
        #expect(DaemonTests.until { FileManager.default.contents(atPath: "\(s.h.state)/status/Snapshot/snap-1.json") == nil }, "\(s.logs)")
        #expect(!(s.daemon?.log.contains("--allow-empty") ?? true), "\(s.logs)")
        #expect(s.h.vmmPIDs().isEmpty)
        // The first healthcheck went out at start-up, and `converge run` was seen alive.
        var runner: [String: Any]?
        #expect(DaemonTests.until {
            runner = (s.cp.admin("GET", "/_standin/runner") as? [String: Any])?["runner"] as? [String: Any]
            return runner?["state"] as? String == "ready" && runner?["appVersion"] is String
        }, "\(String(describing: runner))")
        #expect(Self.filesHolding(Self.token, under: s.h.root, except: [s.tokenFile, "\(s.h.root)/standin.log"]).isEmpty)
        #expect(s.cp.violations.isEmpty, "\(s.cp.violations)")
    }

    /// Files under `root` whose bytes contain `secret` (the spec directory, status files,
    /// database, metrics, logs), apart from `except`.
    static func filesHolding(_ secret: String, under root: String, except: [String]) -> [String] {
        let needle = Data(secret.utf8)
        return ((FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []).map { "\(root)/\($0)" }
            .filter { !except.contains($0) }
            .filter { FileManager.default.contents(atPath: $0)?.range(of: needle) != nil }
    }

    @Test("without the marker an emptied directory is still refused, as for hand-written trees")
    func markerIsNeeded() throws {
        let s = try Setup()
        let a = "3f2a9c1e-cccc-4000-8000-000000000003"
        #expect(Self.status(try s.run("CREATE_SANDBOX", a, payload: Self.create(a))) == "COMPLETED", "\(s.logs)")
        s.bridge?.stop()
        try FileManager.default.removeItem(atPath: "\(s.h.bridgeDir)/.converge-allow-empty")
        try FileManager.default.removeItem(atPath: "\(s.h.bridgeDir)/sandbox-\(a).yaml")
        #expect(DaemonTests.until { s.daemon?.log.contains("--allow-empty") == true }, "\(s.logs)")
        #expect(DaemonTests.status(s.h, a)?["observedState"] as? String == "running")
    }

    @Test("a bridge killed mid-job resumes its IN_PROGRESS job at start-up; the job completes once")
    func crashMidJob() throws {
        let s = try Setup(daemon: false)
        let a = "3f2a9c1e-dddd-4000-8000-000000000004"
        let id = try s.cp.enqueue("CREATE_SANDBOX", a, payload: Self.create(a))
        // No reconciler yet: the job is claimed, its spec written, and it waits.
        #expect(DaemonTests.until { s.h.bridgeFiles().contains("sandbox-\(a).yaml") && Self.status(s.cp.job(id)) == "IN_PROGRESS" }, "\(s.logs)")
        #expect(s.bridge?.stop(SIGKILL) == 128 + SIGKILL)
        s.bridge = try Bridge(s.h, dir: s.h.bridgeDir, url: s.cp.url, tokenFile: s.tokenFile, log: "bridge2.log")
        s.daemon = try DaemonTests.Daemon(s.h, specs: s.h.bridgeDir)
        let j = s.cp.finished(id)
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
        #expect(s.bridge?.log.contains("resuming 1 IN_PROGRESS job") == true, "\(s.logs)")
        #expect((j["reports"] as? [Any])?.count == 1, "\(j)")
        #expect(j["deliveries"] as? Int == 1)
        #expect(s.cp.violations.isEmpty, "\(s.cp.violations)")
    }

    @Test("a wrong token gives one clear error and slow retries, never the token; a fixed token file is picked up")
    func wrongToken() throws {
        let s = try Setup(token: "wrong-token-value")
        #expect(DaemonTests.until { s.bridge?.log.contains("HTTP 401") == true }, "\(s.logs)")
        // A measurement window, not a synchronisation: how many requests in 8 s.
        let start = Date()
        _ = DaemonTests.until(8) { Date().timeIntervalSince(start) > 7.5 }
        let counts = s.cp.counts
        let tries = (counts["listJobs"] ?? 0) + (counts["pollJobs"] ?? 0)
        #expect(tries >= 1 && tries <= 3, "\(counts)")
        #expect((counts["runnerHealthcheck"] ?? 0) <= 2, "\(counts)")
        #expect(s.bridge?.log.components(separatedBy: "refused the runner token").count == 2, "\(s.logs)")
        for text in [s.bridge?.log ?? "", CLIHarness.exec(["/bin/cat", "\(s.h.root)/bridge.log"]).stdout] {
            #expect(!text.contains("wrong-token-value") && !text.contains(Self.token))
        }
        #expect(s.cp.violations.allSatisfy { $0["kind"] as? String == "auth" }, "\(s.cp.violations)")
        try Self.token.write(toFile: s.tokenFile, atomically: true, encoding: .utf8)
        let a = "3f2a9c1e-eeee-4000-8000-000000000005"
        let j = s.cp.finished(try s.cp.enqueue("CREATE_SANDBOX", a, payload: Self.create(a)), timeout: 60)
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
    }

    @Test("unknown and registry job types fail with a clear errorMessage; a job the reconciler refuses fails with its condition")
    func failures() throws {
        let s = try Setup()
        var j = try s.run("MAKE_COFFEE", "3f2a9c1e-ffff-4000-8000-000000000006", payload: "{}")
        #expect(Self.status(j) == "FAILED" && (j["errorMessage"] as? String)?.contains("MAKE_COFFEE") == true, "\(j)")
        j = s.cp.finished(try s.cp.enqueue("PULL_SNAPSHOT", "acme/ubuntu:1", payload: "{\"snapshot\": \"acme/ubuntu:1\"}", resourceType: "SNAPSHOT"))
        #expect(Self.status(j) == "FAILED" && (j["errorMessage"] as? String)?.contains("registry") == true, "\(j)")
        let a = "3f2a9c1e-abab-4000-8000-000000000007"
        j = try s.run("CREATE_SANDBOX", a, payload: Self.create(a, snapshot: "no-such-image"))
        #expect(Self.status(j) == "FAILED" && (j["errorMessage"] as? String)?.contains("no-such-image") == true, "\(j) \(s.logs)")
        // Its spec stays (desired state) until Daytona destroys it; the destroy completes
        // although no VM ever existed.
        j = try s.run("DESTROY_SANDBOX", a)
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
        #expect(DaemonTests.status(s.h, a) == nil)
        j = try s.run("START_SANDBOX", "3f2a9c1e-0000-4000-8000-00000000dead", payload: "{}")
        #expect(Self.status(j) == "FAILED" && (j["errorMessage"] as? String)?.contains("does not exist") == true, "\(j)")
        #expect(s.cp.violations.isEmpty, "\(s.cp.violations)")
    }

    @Test("control plane unreachable for a while: nothing on the host changes, polling resumes by itself")
    func unreachable() throws {
        let s = try Setup()
        let a = "3f2a9c1e-acac-4000-8000-000000000008"
        #expect(Self.status(try s.run("CREATE_SANDBOX", a, payload: Self.create(a))) == "COMPLETED", "\(s.logs)")
        let files = s.h.bridgeFiles()
        let spec = try String(contentsOfFile: "\(s.h.bridgeDir)/sandbox-\(a).yaml", encoding: .utf8)
        let pid = DaemonTests.status(s.h, a)?["pid"] as? Int
        s.cp.admin("POST", "/_standin/faults", "{\"mode\": \"refuse\", \"seconds\": 4}")
        #expect(DaemonTests.until { s.bridge?.log.contains("cannot poll the control plane") == true }, "\(s.logs)")
        #expect(s.h.bridgeFiles() == files)
        #expect(try String(contentsOfFile: "\(s.h.bridgeDir)/sandbox-\(a).yaml", encoding: .utf8) == spec)
        #expect(DaemonTests.status(s.h, a)?["pid"] as? Int == pid)
        #expect(DaemonTests.until(20) { s.bridge?.log.contains("polling resumed") == true }, "\(s.logs)")
        let j = try s.run("STOP_SANDBOX", a, payload: "{}")
        #expect(Self.status(j) == "COMPLETED", "\(j) \(s.logs)")
        #expect(s.cp.violations.isEmpty, "\(s.cp.violations)")
    }

    @Test("protocol v0: the stand-in's v0 client smoke sequence passes against --serve")
    func v0Smoke() throws {
        let h = try CLIHarness()
        try FileManager.default.createDirectory(atPath: h.bridgeDir, withIntermediateDirectories: true)
        let daemon = try DaemonTests.Daemon(h, specs: h.bridgeDir)
        let bridge = try Bridge(h, dir: h.bridgeDir, url: nil, tokenFile: try h.tokenFile(Self.token), serve: "127.0.0.1:0")
        var address = ""
        #expect(DaemonTests.until {
            guard let line = bridge.log.split(separator: "\n").first(where: { $0.contains("serving the runner REST API on ") }) else { return false }
            address = String(line.split(separator: " ").last ?? "")
            return true
        }, "\(bridge.log)")
        let smoke = CLIHarness.exec(["/usr/bin/python3", "\(StandIn.tools)/v0client.py", "smoke", "--url", address, "--token", Self.token,
                                     "--snapshot", "ubuntu-base.1", "--timeout", "30"])
        #expect(smoke.status == 0, "\(smoke.output)\n\(bridge.log)\n\(daemon.log)")
        bridge.stop()
        _ = daemon.stop()
    }
}
