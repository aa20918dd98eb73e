import Foundation
import Glibc
import Reconciler

/// Reads process facts from /proc. A pid alone is not an identity (pids are reused);
/// pid + start time is.
enum ProcFS {
    /// Start time (clock ticks since boot) and state letter of `pid`, or nil if it is gone.
    static func stat(_ pid: Int32) -> (startTime: UInt64, state: Character)? {
        // Plain syscalls and bytes: this runs for every sandbox in every pass.
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer -> (UInt64, Character)? in
            let n = read(fd, buffer.baseAddress, buffer.count)
            guard n > 0 else { return nil }
            let bytes = UnsafeBufferPointer(rebasing: buffer[..<n])
            // The command name (field 2) may hold spaces and parentheses: fields count from
            // after the last ')'. Field 3 is the state, field 22 the start time.
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            var field = 2, i = close + 1
            var state: UInt8 = 0
            var start: UInt64 = 0
            while i < n {
                if bytes[i] == UInt8(ascii: " ") {
                    field += 1
                } else if field == 3 && state == 0 {
                    state = bytes[i]
                } else if field == 22 {
                    guard bytes[i] >= 0x30 && bytes[i] <= 0x39 else { return nil }
                    start = start * 10 + UInt64(bytes[i] - 0x30)
                } else if field > 22 {
                    break
                }
                i += 1
            }
            guard field >= 22, state != 0 else { return nil }
            return (start, Character(Unicode.Scalar(state)))
        }
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
