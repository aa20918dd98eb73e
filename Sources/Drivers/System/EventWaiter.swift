import CSystemShim
import Foundation
import Glibc

/// Why the daemon woke up.
public enum WakeReason: Sendable, Equatable {
    case specsChanged
    case processExited(Int32)
    case signal
    case timeout
}

/// Waits, in one poll(2), for whatever should start a reconcile: a change anywhere in the
/// spec tree (inotify, subdirectories included, atomic renames included, and a swap of a
/// symlink the tree is reached through: `SpecTreeWatch`), the exit of a watched VMM
/// (pidfd), a signal (self-pipe), or a deadline.
public final class EventWaiter: @unchecked Sendable {
    private let inotify: Int32
    private let signalPipe: (read: Int32, write: Int32)
    private let tree: SpecTreeWatch  // used by `wait` only, which one thread calls at a time
    private let lock = NSLock()
    private var pidfds: [Int32: Int32] = [:]  // pid → pidfd

    public init(directory: String) throws {
        inotify = cvg_inotify_init()
        guard inotify >= 0 else { throw SystemError(call: "inotify_init1", code: errno) }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            close(inotify)
            throw SystemError(call: "pipe", code: errno)
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        signalPipe = (fds[0], fds[1])
        tree = SpecTreeWatch(inotify: inotify, directory: directory)
    }

    deinit {
        close(inotify)
        close(signalPipe.read)
        close(signalPipe.write)
        for fd in pidfds.values { close(fd) }
    }

    /// The directories watched for the spec tree, by real path (for tests).
    var watchedDirectories: [String: SpecTreeWatch.Interest] { tree.watched }

    /// Where the spec directory led (through its symlinks) when last resolved: at start and
    /// after every `.specsChanged`; nil when it does not exist. Read it between waits.
    public var specTreeRoot: String? { tree.root }

    /// Watches exactly `pids` for exit from now on.
    public func watchProcesses(_ pids: Set<Int32>) {
        lock.lock()
        defer { lock.unlock() }
        for (pid, fd) in pidfds where !pids.contains(pid) {
            close(fd)
            pidfds[pid] = nil
        }
        for pid in pids where pidfds[pid] == nil {
            let fd = cvg_pidfd_open(pid)
            if fd >= 0 { pidfds[pid] = fd }
        }
    }

    /// Wakes a pending or the next `wait` (signal handlers call it).
    public func interrupt() {
        var byte: UInt8 = 1
        _ = write(signalPipe.write, &byte, 1)
    }

    /// Blocks until something happens or `timeout` seconds pass. Spec changes are debounced:
    /// after the first one, further ones are folded in until `debounce` seconds pass
    /// without any; then the watches follow the tree to wherever its links now lead.
    public func wait(timeout: Double, debounce: Double = 0.1) -> WakeReason {
        let deadline = Self.now + max(0, min(timeout, 86_400))
        while true {
            lock.lock()
            let watched = pidfds
            lock.unlock()
            var fds = [pollfd(fd: signalPipe.read, events: Int16(POLLIN), revents: 0), pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
            let pids = Array(watched.keys)
            fds += pids.map { pollfd(fd: watched[$0]!, events: Int16(POLLIN), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), Self.milliseconds(until: deadline))
            if rc < 0 && errno == EINTR { continue }
            guard rc > 0 else { return .timeout }
            if fds[0].revents != 0 {
                drain(signalPipe.read)
                return .signal
            }
            for (i, pid) in pids.enumerated() where fds[2 + i].revents != 0 {
                // A pidfd stays readable forever after the exit: report it once.
                lock.lock()
                if let fd = pidfds.removeValue(forKey: pid) { close(fd) }
                lock.unlock()
                return .processExited(pid)
            }
            // Events next to a watched link (git-sync's new worktree) are not changes: wait on.
            guard tree.drainRelevant() else { continue }
            // Fold the burst a writer makes (write temp, rename; a new revision, then the swap).
            var quietUntil = Self.now + debounce
            var quiet = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
            while Self.now < quietUntil, poll(&quiet, 1, Self.milliseconds(until: quietUntil)) > 0 {
                if tree.drainRelevant() { quietUntil = Self.now + debounce }
            }
            tree.refresh()
            return .specsChanged
        }
    }

    /// Monotonic seconds.
    private static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private static func milliseconds(until deadline: Double) -> Int32 {
        Int32((max(0, deadline - now) * 1000).rounded(.up))
    }

    private func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while read(fd, &buffer, buffer.count) > 0 {}
    }
}
