import Dispatch
import Foundation
import Glibc

/// The result of a program run to completion.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// A program that could not run, or exited non-zero.
public struct ProcessError: Error, Sendable, CustomStringConvertible {
    public var argv: [String]
    public var status: Int32?
    public var message: String

    public var description: String {
        let command = argv.joined(separator: " ")
        if let status { return "\(command) exited with status \(status): \(message)" }
        return "\(command): \(message)"
    }
}

/// Runs programs with an argv (never through a shell). The seam where external programs'
/// output enters Converge.
public protocol ProcessRunner: Sendable {
    func run(_ argv: [String]) async throws -> ProcessResult
}

/// Runs programs with posix_spawn on a background thread, capturing stdout and stderr.
public struct SpawnRunner: ProcessRunner {
    public init() {}

    public func run(_ argv: [String]) async throws -> ProcessResult {
        try await Blocking.run { try Spawn.runToCompletion(argv) }
    }
}

/// Runs blocking work on a Dispatch thread so that it never holds one of Swift
/// concurrency's few cooperative threads.
public enum Blocking {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// posix_spawn wrappers.
public enum Spawn {
    /// Starts `argv` in its own process group with stdin from /dev/null and stdout and
    /// stderr appended to `logPath`. Does not wait.
    static func detached(_ argv: [String], logPath: String, environment: [String: String]? = nil) throws -> Int32 {
        try spawn(argv, environment: environment) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o640)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
    }

    /// Runs `argv` to completion, capturing its output.
    /// - Parameter timeout: seconds after which its process group is killed (status 128 + SIGKILL).
    public static func runToCompletion(_ argv: [String], environment: [String: String]? = nil, timeout: Double? = nil) throws -> ProcessResult {
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        try sys("pipe2") { systemPipe2(&out, O_CLOEXEC) }
        try sys("pipe2") { systemPipe2(&err, O_CLOEXEC) }
        let pid: Int32
        do {
            pid = try spawn(argv, environment: environment) { actions in
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_adddup2(&actions, out[1], 1)
                posix_spawn_file_actions_adddup2(&actions, err[1], 2)
            }
        } catch {
            [out[0], out[1], err[0], err[1]].forEach { close($0) }
            throw error
        }
        close(out[1])
        close(err[1])
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        let (stdout, stderr) = drain(out[0], err[0], until: deadline) {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        close(out[0])
        close(err[0])
        var status: Int32 = 0
        _ = try? sys("waitpid(\(pid))") { waitpid(pid, &status, 0) }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessResult(status: code, stdout: stdout, stderr: stderr)
    }

    private static func drain(_ a: Int32, _ b: Int32, until deadline: Date? = nil, expired: () -> Void = {}) -> (String, String) {
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var buffers: [[UInt8]] = [[], []]
        var open = 2
        var chunk = [UInt8](repeating: 0, count: 65536)
        while open > 0 {
            var wait: Int32 = -1
            if let deadline {
                let left = deadline.timeIntervalSinceNow
                // Killed, and done reading: a daemon it left may hold the pipes open for ever.
                if left <= 0 { expired(); break }
                wait = Int32(min(left * 1000 + 1, 60_000))
            }
            if poll(&fds, 2, wait) < 0 { if errno == EINTR { continue } else { break } }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &chunk, chunk.count)
                if n > 0 { buffers[i] += chunk[0..<n] } else if n == 0 || errno != EINTR { fds[i].fd = -1; open -= 1 }
            }
        }
        return (String(decoding: buffers[0], as: UTF8.self), String(decoding: buffers[1], as: UTF8.self))
    }

    private static func spawn(_ argv: [String], environment: [String: String]?,
                              files: (inout posix_spawn_file_actions_t) -> Void) throws -> Int32 {
        guard let program = argv.first else { throw ProcessError(argv: argv, status: nil, message: "empty command") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        files(&actions)
        // The child gets exactly fds 0-2: a VMM that inherited a pipe (say, the terminal's
        // or a caller's) would keep it open for its whole life.
        _ = systemAddCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so the whole VMM tree can be signalled; default signal
        // handling and an empty mask, whatever the parent set.
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, &attributes, cArgs, env)
        guard rc == 0 else { throw ProcessError(argv: argv, status: nil, message: String(cString: strerror(rc))) }
        return pid
    }
}

/// glibc's pipe2, which Swift's Glibc module hides behind _GNU_SOURCE. Creating pipes
/// close-on-exec atomically matters: a VMM spawned concurrently must not inherit a
/// pipe's write end, or the reader would never see end-of-file.
@_silgen_name("pipe2")
private func systemPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// glibc ≥ 2.34's posix_spawn_file_actions_addclosefrom_np, not exported by Swift's Glibc module.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func systemAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
