import CSystemShim
import Foundation
import Glibc

/// One thread that waits, with epoll, until the sockets of the exchanges in flight can be
/// read or written, and resumes each waiting task then, or at its deadline.
///
/// A balloon pass talks to a thousand VMMs, 128 at a time. A blocking exchange per thread
/// cost a thread hand-off each way and a hundred sleeping threads; here a waiting exchange
/// holds only an epoll registration.
final class SocketReadiness: @unchecked Sendable {
    static let shared = SocketReadiness()

    enum Interest { case readable, writable }

    enum Outcome: Sendable {
        case ready, timedOut
        /// The socket could not be watched (epoll_ctl failed: a watch limit, memory).
        case failed(SystemError)
    }

    private struct Waiter {
        var deadline: Double
        var continuation: CheckedContinuation<Outcome, Never>
    }

    private let epoll: Int32
    /// Wakes the thread when a waiter's deadline comes before the one it sleeps until.
    private let wake: Int32
    private let lock = NSLock()
    private var waiters: [Int32: Waiter] = [:]
    /// The deadline the thread sleeps until (`.infinity`: none).
    private var sleepsUntil = Double.infinity

    private init() {
        epoll = cvg_epoll_create()
        let epollError = errno
        wake = cvg_eventfd()
        precondition(epoll >= 0 && wake >= 0, "epoll_create1/eventfd failed: errno \(epoll < 0 ? epollError : errno)")
        let thread = Thread { [self] in run() }
        thread.name = "socket-readiness"
        thread.start()
    }

    /// Suspends until `fd` is ready for `interest` or `deadline` (a
    /// `SocketReadiness.now()` value) passes. The caller owns `fd` and must not close it
    /// while waiting.
    func wait(_ fd: Int32, _ interest: Interest, until deadline: Double) async -> Outcome {
        await withCheckedContinuation { continuation in
            lock.lock()
            guard cvg_epoll_add(epoll, fd, interest == .writable ? 1 : 0) == 0 else {
                let code = errno
                lock.unlock()
                continuation.resume(returning: .failed(SystemError(call: "epoll_ctl", code: code)))
                return
            }
            waiters[fd] = Waiter(deadline: deadline, continuation: continuation)
            let earlier = deadline < sleepsUntil
            if earlier { sleepsUntil = deadline }
            lock.unlock()
            if earlier { var one: UInt64 = 1; _ = Glibc.write(wake, &one, 8) }
        }
    }

    static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private func run() {
        // The wake descriptor is armed for good: re-armed after each wake.
        _ = cvg_epoll_add(epoll, wake, 0)
        var fds = [Int32](repeating: -1, count: 256)
        while true {
            lock.lock()
            let until = sleepsUntil
            lock.unlock()
            let timeout = until == .infinity ? -1 : Int32(min(60_000, max(0, ((until - Self.now()) * 1000).rounded(.up))))
            let count = cvg_epoll_wait(epoll, &fds, Int32(fds.count), timeout)
            var ready: [CheckedContinuation<Outcome, Never>] = []
            var expired: [CheckedContinuation<Outcome, Never>] = []
            lock.lock()
            for fd in fds.prefix(max(0, Int(count))) {
                if fd == wake {
                    var value: UInt64 = 0
                    _ = Glibc.read(wake, &value, 8)
                    _ = cvg_epoll_del(epoll, wake)
                    _ = cvg_epoll_add(epoll, wake, 0)
                    continue
                }
                if let waiter = waiters.removeValue(forKey: fd) {
                    _ = cvg_epoll_del(epoll, fd)
                    ready.append(waiter.continuation)
                }
            }
            let now = Self.now()
            var next = Double.infinity
            for (fd, waiter) in waiters {
                if waiter.deadline <= now {
                    waiters[fd] = nil
                    _ = cvg_epoll_del(epoll, fd)
                    expired.append(waiter.continuation)
                } else {
                    next = min(next, waiter.deadline)
                }
            }
            sleepsUntil = next
            lock.unlock()
            for continuation in ready { continuation.resume(returning: .ready) }
            for continuation in expired { continuation.resume(returning: .timedOut) }
        }
    }
}
