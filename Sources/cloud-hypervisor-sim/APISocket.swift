import Glibc

/// The listening API socket and its `SOCK.lock` file.
///
/// Path mode, as Cloud Hypervisor does it: take an exclusive non-blocking `flock` on `SOCK.lock`
/// (created next to the socket), then remove a stale socket and bind. The lock is held for the
/// process's lifetime; a clean exit removes the socket and the lock file; SIGKILL leaves both.
/// Fd mode (`--api-socket fd=N`): serve an inherited listening socket, no lock file.
final class APISocket {
    /// Why the socket could not be set up; each ends the process with status 1.
    enum Failure: Error, CustomStringConvertible {
        /// Another process holds `SOCK.lock`.
        case inUse(path: String)
        /// A system call failed.
        case system(SystemError)
        /// The path does not fit in `sockaddr_un`.
        case pathTooLong(String)

        var description: String {
            switch self {
            case .inUse(let path): "Error: API socket in use: \(path) (\(path).lock is locked by another process)"
            case .system(let error): "Error creating API socket: \(error)"
            case .pathTooLong(let path): "Error creating API socket: path too long: \(path)"
            }
        }
    }

    /// The listening descriptor (non-blocking, close-on-exec).
    let listener: FileDescriptor
    /// The socket path in path mode.
    private let path: String?
    /// The held lock in path mode.
    private let lock: FileDescriptor?
    private var removed = false

    /// Locks, optionally waits, removes a stale socket, binds and listens.
    ///
    /// - Parameters:
    ///   - path: the socket path.
    ///   - delayMilliseconds: the `CH_SIM_SOCKET_DELAY_MS` wait, after locking and before binding.
    /// - Throws: `Failure`.
    init(path: String, delayMilliseconds: Int) throws(Failure) {
        let lockPath = path + ".lock"
        let lock: FileDescriptor
        do {
            lock = try FileDescriptor(path: lockPath, flags: O_RDWR | O_CREAT, mode: 0o600)
        } catch {
            throw .system(error)
        }
        do {
            try sys("flock(\(lockPath))") { flock(lock.raw, LOCK_EX | LOCK_NB) }
        } catch {
            if error.code == EWOULDBLOCK { throw .inUse(path: path) }
            throw .system(error)
        }
        if delayMilliseconds > 0 { sleepMilliseconds(delayMilliseconds) }
        if unlink(path) == -1 && errno != ENOENT {
            throw .system(SystemError(call: "unlink(\(path))", code: errno))
        }
        do {
            listener = try UnixListener.listen(path: path)
        } catch {
            switch error {
            case .pathTooLong: throw .pathTooLong(path)
            case .system(let error): throw .system(error)
            }
        }
        self.path = path
        self.lock = lock
    }

    /// Serves an inherited listening socket.
    ///
    /// - Throws: `Failure.system` when `fd` is not a usable descriptor.
    init(inheritedFD fd: Int32) throws(Failure) {
        do { try makeNonBlockingCloexec(fd) } catch { throw .system(error) }
        listener = FileDescriptor(fd)
        path = nil
        lock = nil
    }

    /// Removes the socket and the lock file (path mode). Idempotent; called on every clean exit.
    func remove() {
        guard !removed, let path else { return }
        removed = true
        unlink(path)
        unlink(path + ".lock")
    }
}

@available(*, unavailable)
extension APISocket: Sendable {}
