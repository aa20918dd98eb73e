import Glibc

// MARK: - Errors

/// A failed system call: which call on what object, and the C errno it left behind.
struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call and its object, e.g. `open(/tmp/x)`.
    var call: String
    /// The errno value (`ENOENT`, `EAGAIN`, ...).
    var code: Int32

    var description: String { "\(call): \(osErrorText(code))" }
}

/// Renders an errno the way Rust's `std::io::Error` does, as Cloud Hypervisor's messages show it:
/// `No such file or directory (os error 2)`.
func osErrorText(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (os error \(code))"
}

// MARK: - The one syscall helper

/// Runs `body`, retries on `EINTR`, and throws `SystemError` when it returns -1.
///
/// - Parameters:
///   - call: what is being called on which object; only built on failure.
///   - body: the raw call.
/// - Throws: `SystemError` with the errno of the failed call.
@discardableResult
func sys<T: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let rc = body()
        if rc != -1 { return rc }
        if errno != EINTR { throw SystemError(call: call(), code: errno) }
    }
}

// MARK: - Owned descriptors

/// Owns one file descriptor and closes it exactly once, in `deinit` or `close()`.
///
/// Not Sendable: the simulator is single-threaded and every descriptor lives on the main thread.
final class FileDescriptor {
    /// The raw descriptor; -1 once closed.
    private(set) var raw: Int32

    /// Takes ownership of `raw`.
    init(_ raw: Int32) { self.raw = raw }

    /// Opens `path` with `O_CLOEXEC` added to `flags`.
    ///
    /// - Throws: `SystemError` from `open(2)`.
    convenience init(path: String, flags: Int32, mode: mode_t = 0o644) throws(SystemError) {
        let fd = try sys("open(\(path))") { open(path, flags | O_CLOEXEC, mode) }
        self.init(fd)
    }

    deinit { if raw >= 0 { Glibc.close(raw) } }

    /// Closes the descriptor now; later calls do nothing.
    func close() {
        if raw >= 0 { Glibc.close(raw) }
        raw = -1
    }

    /// Writes every byte, retrying short writes (blocking descriptors only).
    ///
    /// - Throws: `SystemError` from `write(2)`.
    func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let fd = raw
            let n = try sys("write") { bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) } }
            offset += n
        }
    }
}

@available(*, unavailable)
extension FileDescriptor: Sendable {}

// MARK: - Small helpers

/// Sets `O_NONBLOCK` and `FD_CLOEXEC` on a descriptor this process got from `accept(2)` or inherited.
///
/// Glibc's Swift module hides `accept4` and `pipe2` (no `_GNU_SOURCE`); the simulator never forks,
/// so setting the flags right after the call is race-free.
func makeNonBlockingCloexec(_ fd: Int32) throws(SystemError) {
    let flags = try sys("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
    try sys("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    try sys("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
}

/// Every connection waiting on the non-blocking `listener`, each made non-blocking and
/// close-on-exec (one that cannot be is closed and skipped).
func acceptPending(_ listener: Int32) -> [Int32] {
    var accepted: [Int32] = []
    while true {
        let fd = accept(listener, nil, nil)
        if fd == -1 {
            if errno == EINTR { continue }
            return accepted
        }
        do { try makeNonBlockingCloexec(fd) } catch {
            close(fd)
            continue
        }
        accepted.append(fd)
    }
}

/// The value of an environment variable, or nil when unset.
func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// Milliseconds on the monotonic clock.
func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Sleeps for `milliseconds`, resuming after signals.
func sleepMilliseconds(_ milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}

/// Writes a line to standard error (unbuffered).
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Writes a line to standard output (unbuffered).
func printOutput(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

// MARK: - Files

/// `stat(2)`; a free function because inside `Files` the name `stat` means the struct.
private func statPath(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }

/// Host file checks and whole-file I/O, in the words CH's errors use.
enum Files {
    /// `stat(2)` of a path, or the errno.
    static func status(_ path: String) -> Result<stat, SystemError> {
        var st = stat()
        do {
            try sys("stat(\(path))") { statPath(path, &st) }
            return .success(st)
        } catch {
            return .failure(error)
        }
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        if case .success(let st) = status(path) { return (st.st_mode & S_IFMT) == S_IFDIR }
        return false
    }

    /// Checks access like opening the file would: nil when allowed, else the errno.
    static func accessError(_ path: String, mode: Int32) -> Int32? {
        access(path, mode) == 0 ? nil : errno
    }

    /// Reads a whole file.
    ///
    /// - Throws: `SystemError` from `open(2)` or `read(2)`.
    static func read(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try FileDescriptor(path: path, flags: O_RDONLY)
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try sys("read(\(path))") { chunk.withUnsafeMutableBytes { Glibc.read(fd.raw, $0.baseAddress, $0.count) } }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// Replaces the contents of `path` with `bytes`.
    ///
    /// - Throws: `SystemError` from `open(2)` or `write(2)`.
    static func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let fd = try FileDescriptor(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        try fd.writeAll(bytes)
    }

    /// Creates or truncates `path` as a sparse file of `size` bytes: no data blocks are written.
    ///
    /// - Throws: `SystemError` from `open(2)` or `ftruncate(2)`.
    static func writeSparse(_ path: String, size: Int64) throws(SystemError) {
        let fd = try FileDescriptor(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        try sys("ftruncate(\(path))") { ftruncate(fd.raw, off_t(size)) }
    }
}
