import Foundation
import Glibc

/// A child process started with `posix_spawn` and reaped with `waitpid` by pid.
///
/// Foundation's `Process.waitUntilExit()` sometimes never returns when many tests spawn and
/// reap children in parallel, so the tests manage their children themselves. Output goes to
/// pipes that are drained while waiting, so a chatty child cannot block on a full pipe.
final class ChildProcess: @unchecked Sendable {
    /// The child's pid.
    let pid: pid_t
    private let lock = NSLock()
    private var stdoutFD: Int32
    private var stderrFD: Int32
    private var stdoutBytes: [UInt8] = []
    private var stderrBytes: [UInt8] = []
    private var exitStatus: Int32?

    /// Spawns `executable` with `arguments` and exactly `environment`.
    ///
    /// The child starts with an empty signal mask and default dispositions.
    init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw ClientError(description: "pipe: errno \(errno)") }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(outPipe[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(errPipe[0], F_SETFL, O_NONBLOCK)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in [SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signo) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw ClientError(description: "posix_spawn(\(executable)): errno \(rc)")
        }
        pid = child
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
    }

    deinit {
        kill()
        close(stdoutFD)
        close(stderrFD)
    }

    /// Whether the child has not been reaped yet.
    var isRunning: Bool { pollExit() == nil }

    /// Waits for the child to exit and returns its exit status (128+signal if killed), or nil on timeout.
    func waitForExit(timeout: TimeInterval = 5) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = pollExit() { return status }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// Everything the child wrote to stdout so far.
    func stdoutText() -> String {
        drain()
        return lock.withLock { String(decoding: stdoutBytes, as: UTF8.self) }
    }

    /// Everything the child wrote to stderr so far.
    func stderrText() -> String {
        drain()
        return lock.withLock { String(decoding: stderrBytes, as: UTF8.self) }
    }

    /// Sends `signo` to the child if it has not been reaped.
    func signal(_ signo: Int32) {
        if isRunning { Glibc.kill(pid, signo) }
    }

    /// SIGKILLs the child (if still running) and reaps it.
    func kill() {
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    private func pollExit() -> Int32? {
        drain()
        return lock.withLock {
            if let exitStatus { return exitStatus }
            var status: Int32 = 0
            let rc = waitpid(pid, &status, WNOHANG)
            guard rc == pid else { return nil }
            let signalled = status & 0x7f
            exitStatus = signalled == 0 ? (status >> 8) & 0xff : 128 + signalled
            return exitStatus
        }
    }

    private func drain() {
        lock.withLock {
            read(stdoutFD, into: &stdoutBytes)
            read(stderrFD, into: &stderrBytes)
        }
    }

    private func read(_ fd: Int32, into bytes: inout [UInt8]) {
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            bytes += chunk[0..<n]
        }
    }
}

/// Runs a program to completion and returns its exit status and combined output.
func runToCompletion(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> (status: Int32, output: String) {
    let child = try ChildProcess(executable, arguments, environment: ProcessInfo.processInfo.environment)
    guard let status = child.waitForExit(timeout: timeout) else {
        child.kill()
        throw ClientError(description: "\(executable) did not finish in \(timeout) s")
    }
    return (status, child.stdoutText() + child.stderrText())
}
