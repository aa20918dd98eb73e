import CSystemShim
import Foundation
import Glibc
import Reconciler

/// Held pidfds of VMM processes, so a long-lived reconciler (`converge run`) checks a
/// thousand of them with one poll(2) instead of reading /proc for each.
///
/// A pidfd names one process, never a later one with the same pid, and becomes readable
/// when it exits: a held, unreadable pidfd proves what pid + start time would. A handle is
/// opened only after /proc showed the very process (pid and start time) alive, and that is
/// checked again once it is open, so it never stands for a successor.
public final class ProcessHandles: @unchecked Sendable {
    private let lock = NSLock()
    private var held: [ProcessIdentity: Int32] = [:]

    public init() {}

    deinit {
        for fd in held.values { close(fd) }
    }

    /// Which of `processes` still run. Held ones are polled together; the others are
    /// checked in /proc and, when alive, held from now on.
    public func running(_ processes: [ProcessIdentity]) -> Set<ProcessIdentity> {
        lock.lock()
        defer { lock.unlock() }
        var alive: Set<ProcessIdentity> = []
        var polled: [ProcessIdentity] = []
        var fds: [pollfd] = []
        for process in processes {
            if let fd = held[process] {
                polled.append(process)
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            } else if ProcFS.isAlive(process) {
                alive.insert(process)
                hold(process)
            }
        }
        if !fds.isEmpty, poll(&fds, nfds_t(fds.count), 0) >= 0 {
            for (i, process) in polled.enumerated() {
                if fds[i].revents == 0 {
                    alive.insert(process)
                } else {
                    // Exited: /proc decides from now on (and reaps it if it is our child).
                    close(held.removeValue(forKey: process)!)
                    ProcFS.reap(process.pid)
                }
            }
        } else {
            for process in polled where ProcFS.isAlive(process) { alive.insert(process) }
        }
        return alive
    }

    /// Closes the handles of processes other than `processes` (sandboxes gone or restarted).
    public func keep(only processes: Set<ProcessIdentity>) {
        lock.lock()
        defer { lock.unlock() }
        for (process, fd) in held where !processes.contains(process) {
            close(fd)
            held[process] = nil
        }
    }

    /// How many handles are held (for tests).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return held.count
    }

    private func hold(_ process: ProcessIdentity) {
        let fd = cvg_pidfd_open(process.pid)
        guard fd >= 0 else { return }  // no pidfds (old kernel, fd limit): /proc every pass
        // Opened after the check: the pid may have been reused in between. Checked again.
        guard ProcFS.isAlive(process) else {
            close(fd)
            return
        }
        held[process] = fd
    }
}
