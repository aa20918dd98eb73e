import Foundation
import Glibc
import Reconciler

/// Starting and ending a VMM process, the same for every runtime: it runs in its own
/// process group (in its slot's namespace when it has one), and is gone when it is gone.
enum VMMProcess {
    /// Spawns `argv` detached, inside `namespace` when given, and waits until `ready` names
    /// the VMM's pid (its API answers) or the process exits or `timeout` passes.
    /// - Parameters:
    ///   - what: the VMM and where it should answer, for errors (`cloud-hypervisor on SOCK`).
    ///   - ready: the pid the VMM reports once its socket answers (`spawned` when it reports
    ///     none), nil before.
    static func spawn(_ argv: [String], log: String, namespace: String?, environment: [String: String], timeout: Double,
                      what: String, step: String,
                      ready: @Sendable (_ spawned: Int32) async -> Int32?) async throws -> ProcessIdentity {
        let pid: Int32
        if let namespace {
            // Spawned from a thread inside the slot's namespace: the VMM lives there.
            pid = try await NetworkNamespace.run(namespace) { _ in try Spawn.detached(argv, logPath: log, environment: environment) }
        } else {
            pid = try Spawn.detached(argv, logPath: log, environment: environment)
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw StepFailure(step: step, message: "\(what) exited during start (status \((status >> 8) & 0xff))\(logTail(log))")
            }
            if let reported = await ready(pid) {
                guard let identity = ProcFS.identity(of: pid) else { break }
                // A wrapper (netns exec) may stand between us and the VMM: record the VMM.
                return reported != pid ? ProcFS.identity(of: reported) ?? identity : identity
            }
            // 1 ms: a VMM answers within a few, and each poll is one connect.
            try await Task.sleep(nanoseconds: 1_000_000)
        }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        throw StepFailure(step: step, message: "\(what) did not answer within \(Int(timeout))s\(logTail(log))")
    }

    /// Waits up to `grace` for `process` to exit, then kills its group; throws if it survives.
    static func terminate(_ process: ProcessIdentity, grace: Double, step: String) async throws {
        let deadline = Date().addingTimeInterval(grace)
        while ProcFS.isAlive(process) && Date() < deadline { try await Task.sleep(nanoseconds: 1_000_000) }
        if ProcFS.isAlive(process) {
            // Its own group: the VMM and anything it started go together.
            kill(-process.pid, SIGKILL)
            kill(process.pid, SIGKILL)
            let hard = Date().addingTimeInterval(2)
            while ProcFS.isAlive(process) && Date() < hard { try await Task.sleep(nanoseconds: 5_000_000) }
        }
        guard !ProcFS.isAlive(process) else {
            throw StepFailure(step: step, message: "\(process) survived SIGKILL")
        }
    }

    /// The last lines of a VMM's log, to show with a failure.
    static func logTail(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return "" }
        let lines = String(decoding: data.suffix(2048), as: UTF8.self).split(separator: "\n").suffix(3)
        return "; its log (\(path)) ends: " + lines.joined(separator: " | ")
    }
}
