import Foundation
import Glibc
@testable import Drivers

/// The stand-in Daytona control plane (Tools/daytona-standin) as a subprocess on loopback,
/// driven through its admin API with curl. Stopped by its PID.
final class StandIn: @unchecked Sendable {
    let pid: Int32
    let url: String
    let root: String

    static var tools: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tools/daytona-standin").path
    }

    init(root: String, token: String) throws {
        self.root = root
        let urlFile = "\(root)/standin.url"
        pid = try Spawn.detached(["/usr/bin/python3", "\(Self.tools)/standin.py", "--host", "127.0.0.1", "--port", "0", "--token", token,
                                  "--url-file", urlFile], logPath: "\(root)/standin.log")
        var found: String?
        _ = DaemonTests.until(15) {
            found = (try? String(contentsOfFile: urlFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            return found?.hasPrefix("http") == true
        }
        guard let found, found.hasPrefix("http") else { throw HarnessError(message: "the stand-in did not start: \(root)/standin.log") }
        url = found
    }

    deinit {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        if !DaemonTests.until(5, { waitpid(pid, &status, WNOHANG) == pid }) {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
    }

    /// An admin call; the parsed JSON answer.
    @discardableResult
    func admin(_ method: String, _ path: String, _ body: String? = nil, timeout: Int = 30) -> Any? {
        var argv = ["/usr/bin/curl", "-s", "-m", "\(timeout)", "-X", method, url + path]
        if let body { argv += ["-H", "Content-Type: application/json", "-d", body] }
        let r = CLIHarness.exec(argv)
        return try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    /// Enqueues a job and returns its id.
    func enqueue(_ type: String, _ resourceId: String, payload: String? = nil, resourceType: String? = nil) throws -> String {
        var fields = ["\"type\": \"\(type)\"", "\"resourceId\": \"\(resourceId)\""]
        if let payload { fields.append("\"payload\": \(payload)") }
        if let resourceType { fields.append("\"resourceType\": \"\(resourceType)\"") }
        let answer = admin("POST", "/_standin/jobs", "{\(fields.joined(separator: ", "))}") as? [String: Any]
        guard let id = answer?["id"] as? String else { throw HarnessError(message: "enqueue \(type) failed: \(String(describing: answer))") }
        return id
    }

    /// The job once it is COMPLETED or FAILED (the stand-in blocks server-side), else its current view.
    func finished(_ id: String, timeout: Int = 30) -> [String: Any] {
        (admin("GET", "/_standin/jobs/\(id)/wait?status=COMPLETED,FAILED&timeout=\(timeout)", timeout: timeout + 5) as? [String: Any])
            ?? (admin("GET", "/_standin/jobs/\(id)") as? [String: Any]) ?? [:]
    }

    func job(_ id: String) -> [String: Any] { (admin("GET", "/_standin/jobs/\(id)") as? [String: Any]) ?? [:] }

    var violations: [[String: Any]] { ((admin("GET", "/_standin/violations") as? [String: Any])?["violations"] as? [[String: Any]]) ?? [] }

    /// Requests per operationId since the stand-in started.
    var counts: [String: Int] { ((admin("GET", "/_standin/requests") as? [String: Any])?["counts"] as? [String: Int]) ?? [:] }
}

/// `converge daytona` as a process, stopped (or killed) by its PID.
final class Bridge {
    let pid: Int32
    let logPath: String
    private var reaped = false

    init(_ h: CLIHarness, dir: String, url: String?, tokenFile: String?, serve: String? = nil, environment: [String: String] = [:], log: String = "bridge.log") throws {
        logPath = "\(h.root)/\(log)"
        var argv = [CLIHarness.product("converge"), "daytona", dir, "--state", h.state]
        if let url { argv += ["--api-url", url + "/api"] }
        if let tokenFile { argv += ["--token-file", tokenFile] }
        if let serve { argv += ["--serve", serve] }
        let env = ProcessInfo.processInfo.environment.merging(["POLL_TIMEOUT": "5s", "DAYTONA_FAIL_AFTER": "3s"].merging(environment) { _, n in n }) { _, n in n }
        pid = try Spawn.detached(argv, logPath: logPath, environment: env)
    }

    deinit { if !reaped { _ = stop(SIGKILL) } }

    /// Sends `signal` and reaps; the exit code (128+n for a signal), nil after 10 s.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Int32? {
        reaped = true
        kill(pid, signal)
        var status: Int32 = 0
        guard DaemonTests.until(10, { waitpid(pid, &status, WNOHANG) == pid }) else {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return nil
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// A spec directory fed by the bridge, beside the harness's own, and the files in it.
extension CLIHarness {
    var bridgeDir: String { "\(root)/daytona-specs" }

    func bridgeFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: bridgeDir)) ?? []).sorted()
    }

    /// Writes the token file (0600) and returns its path.
    func tokenFile(_ token: String, name: String = "token") throws -> String {
        let path = "\(root)/\(name)"
        try token.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }
}
