import Foundation
import Glibc
import Reconciler

/// Reads process facts from /proc. A pid alone is not an identity (pids are reused);
/// pid + start time is.
enum ProcFS {
    /// Start time (clock ticks since boot) and state letter of `pid`, or nil if it is gone.
    static func stat(_ pid: Int32) -> (startTime: UInt64, state: Character)? {
        // Plain syscalls: this runs for every sandbox in every pass.
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = read(fd, &buffer, buffer.count)
        close(fd)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
        guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        return (start, state)
    }

    /// The identity of a live (not zombie) process.
    static func identity(of pid: Int32) -> ProcessIdentity? {
        guard let s = stat(pid), s.state != "Z", s.state != "X" else { return nil }
        return ProcessIdentity(pid: pid, startTime: s.startTime)
    }

    /// True when the process `id` names is the same live process.
    static func isAlive(_ id: ProcessIdentity) -> Bool {
        reap(id.pid)
        guard let s = stat(id.pid) else { return false }
        return s.startTime == id.startTime && s.state != "Z" && s.state != "X"
    }

    /// Collects the exit status of `pid` if it is our exited child (a no-op otherwise).
    static func reap(_ pid: Int32) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }
}
