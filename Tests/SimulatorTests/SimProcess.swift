import Foundation
import Glibc

/// A temporary directory under /tmp with a short path (AF_UNIX paths are limited to 107 bytes),
/// removed by `remove()`.
final class TempDir: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/chsim.XXXXXX".utf8CString)
        guard let raw = mkdtemp(&template) else { throw ClientError(description: "mkdtemp: errno \(errno)") }
        path = String(cString: raw)
    }

    /// A path inside the directory.
    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Creates a file with some content and returns its path.
    @discardableResult
    func touch(_ name: String, _ content: String = "x") -> String {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(content.utf8))
        return file(name)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Finds the built simulator: `CH_SIM_BINARY`, else a directory holding `cloud-hypervisor-sim`
/// found by walking up from the test bundle and the test runner (`.build/debug/` in SwiftPM).
enum SimBinary {
    static let path: String = {
        if let explicit = ProcessInfo.processInfo.environment["CH_SIM_BINARY"] { return explicit }
        let starts = [Bundle.main.bundlePath, CommandLine.arguments.first ?? ""]
            + Bundle.allBundles.map(\.bundlePath)
        for start in starts where !start.isEmpty {
            var dir = URL(fileURLWithPath: start).standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("cloud-hypervisor-sim").path
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                    FileManager.default.isExecutableFile(atPath: candidate)
                {
                    return candidate
                }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return "cloud-hypervisor-sim-not-found"
    }()
}

/// One running simulator process, started with its own environment; `kill()` sends SIGKILL by pid.
final class SimProcess: @unchecked Sendable {
    let child: ChildProcess
    let socketPath: String

    /// The child's pid.
    var pid: Int32 { child.pid }

    /// Starts the simulator.
    ///
    /// - Parameters:
    ///   - arguments: the full argument list (include `--api-socket` yourself, or use `start(in:)`).
    ///   - socketPath: the socket the tests will talk to.
    ///   - environment: `CH_SIM_*` knobs; inherited `CH_SIM_*` variables are removed first.
    init(arguments: [String], socketPath: String, environment: [String: String] = [:]) throws {
        self.socketPath = socketPath
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CH_SIM_") }
        env.merge(environment) { $1 }
        child = try ChildProcess(SimBinary.path, arguments, environment: env)
    }

    /// Starts a simulator serving `--api-socket path=SOCK` and waits for the socket.
    static func start(in dir: TempDir, extraArguments: [String] = [], environment: [String: String] = [:]) throws -> SimProcess {
        let socket = dir.file("api.sock")
        let sim = try SimProcess(arguments: ["--api-socket", "path=\(socket)"] + extraArguments, socketPath: socket, environment: environment)
        try sim.waitForSocket()
        return sim
    }

    /// Polls every 10 ms for a connectable socket; fails early if the child exits.
    func waitForSocket(timeout: TimeInterval = 5) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !child.isRunning { throw ClientError(description: "simulator exited early: \(child.stderrText())") }
            if (try? UnixHTTPClient(socketPath: socketPath)) != nil { return }
            usleep(10_000)
        }
        throw ClientError(description: "socket \(socketPath) did not appear")
    }

    /// Waits for the process to exit and returns its status, or nil on timeout.
    func waitForExit(timeout: TimeInterval = 5) -> Int32? { child.waitForExit(timeout: timeout) }

    /// Everything the child wrote to stderr so far.
    func stderrText() -> String { child.stderrText() }

    /// Sends a signal to the child.
    func signal(_ signo: Int32) { child.signal(signo) }

    /// SIGKILLs the child if it still runs and reaps it.
    func kill() { child.kill() }

    /// One request on a fresh connection.
    @discardableResult
    func call(_ method: String, _ endpoint: String, _ body: String? = nil) throws -> HTTPReply {
        try UnixHTTPClient(socketPath: socketPath).request(method, "/api/v1/\(endpoint)", body: body)
    }

    /// `PUT /api/v1/<endpoint>`.
    @discardableResult
    func put(_ endpoint: String, _ body: String? = nil) throws -> HTTPReply { try call("PUT", endpoint, body) }

    /// `GET /api/v1/<endpoint>`.
    func get(_ endpoint: String) throws -> HTTPReply { try call("GET", endpoint) }

    /// `vm.info`'s state, or nil when it does not answer 200.
    func state() throws -> String? {
        let reply = try get("vm.info")
        return reply.status == 200 ? reply.object["state"] as? String : nil
    }
}

/// Runs `body` with a fresh temp dir and kills every simulator registered in `sims` afterwards,
/// even when `body` throws.
func withTempDir(_ body: (TempDir, inout [SimProcess]) throws -> Void) throws {
    let dir = try TempDir()
    var sims: [SimProcess] = []
    defer {
        for sim in sims { sim.kill() }
        dir.remove()
    }
    try body(dir, &sims)
}

/// A minimal valid `VmConfig` body for files inside `dir`.
func vmConfigBody(
    _ dir: TempDir, cpus: (Int, Int) = (1, 2), memory: Int64 = 1 << 30, hotplug: Int64? = nil, method: String? = nil,
    balloon: Int64? = nil, disks: [String]? = nil, kernel: String? = nil
) -> String {
    let kernelPath = kernel ?? dir.touch("vmlinux")
    let diskPaths = disks ?? [dir.touch("disk.img")]
    var memoryJSON = "\"size\":\(memory)"
    if let hotplug { memoryJSON += ",\"hotplug_size\":\(hotplug)" }
    if let method { memoryJSON += ",\"hotplug_method\":\"\(method)\"" }
    var body = """
        {"cpus":{"boot_vcpus":\(cpus.0),"max_vcpus":\(cpus.1)},"memory":{\(memoryJSON)},\
        "payload":{"kernel":"\(kernelPath)","cmdline":"console=ttyS0"},\
        "disks":[\(diskPaths.map { "{\"path\":\"\($0)\"}" }.joined(separator: ","))],\
        "net":[{"tap":"tap0","mac":"52:54:00:12:34:56","ip":"192.168.0.1","mask":"255.255.255.0"}]
        """
    if let balloon { body += ",\"balloon\":{\"size\":\(balloon),\"deflate_on_oom\":true,\"free_page_reporting\":true}" }
    return body + "}"
}
