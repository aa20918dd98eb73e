import Glibc

/// The write end of the self-pipe, for the async-signal-safe handler. Set once before any
/// handler is installed and never changed again.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Writes the signal number to the self-pipe; only async-signal-safe calls.
private func forwardSignal(_ signo: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signo)
    _ = write(signalPipeWriteEnd, &byte, 1)
    errno = saved
}

/// Turns SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 into bytes on a pipe the poll loop watches
/// (Swift's Glibc module does not expose `signalfd`). SIGPIPE is ignored; sends use
/// `MSG_NOSIGNAL` anyway.
final class SignalPipe {
    /// The read end, non-blocking.
    let readEnd: FileDescriptor
    private let writeEnd: FileDescriptor

    /// Creates the pipe and installs the handlers.
    ///
    /// - Throws: `SystemError` from `pipe(2)`, `fcntl(2)` or `sigaction(2)`.
    init() throws(SystemError) {
        var ends: [Int32] = [-1, -1]
        try sys("pipe") { pipe(&ends) }
        readEnd = FileDescriptor(ends[0])
        writeEnd = FileDescriptor(ends[1])
        try makeNonBlockingCloexec(ends[0])
        try makeNonBlockingCloexec(ends[1])
        signalPipeWriteEnd = ends[1]
        for signo in [SIGTERM, SIGINT, SIGUSR1, SIGUSR2] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = forwardSignal
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            try sys("sigaction(\(signo))") { sigaction(signo, &action, nil) }
        }
        signal(SIGPIPE, SIG_IGN)
        // A parent may spawn us with these blocked (Foundation's Process does, from a test
        // runner's threads); the mask survives exec, so unblock them explicitly.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signo in [SIGTERM, SIGINT, SIGUSR1, SIGUSR2] { sigaddset(&unblock, signo) }
        try sys("sigprocmask") { sigprocmask(SIG_UNBLOCK, &unblock, nil) }
    }

    /// The signals received since the last call, in order.
    func drain() -> [Int32] {
        var result: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(readEnd.raw, $0.baseAddress, $0.count) }
            if n > 0 {
                result += buffer[0..<n].map { Int32($0) }
                continue
            }
            if n == -1 && errno == EINTR { continue }
            return result
        }
    }
}

@available(*, unavailable)
extension SignalPipe: Sendable {}
