import Glibc

/// Binds and listens on an AF_UNIX stream socket: the API socket and the hybrid vsock socket.
enum UnixListener {
    /// Why the socket could not be bound.
    enum Failure: Error {
        /// The path does not fit in `sockaddr_un`.
        case pathTooLong
        /// A system call failed (`EADDRINUSE` when a file already exists at the path).
        case system(SystemError)
    }

    /// A non-blocking, close-on-exec listening socket at `path`. An existing file at `path` is
    /// not removed: `bind` then fails with `EADDRINUSE`.
    ///
    /// - Throws: `Failure`.
    static func listen(path: String, backlog: Int32 = 128) throws(Failure) -> FileDescriptor {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw .pathTooLong }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        do {
            let fd = try sys("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            let listener = FileDescriptor(fd)
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
            _ = try withUnsafePointer(to: &address) { pointer throws(SystemError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                    try sys("bind(\(path))") { bind(fd, sa, length) }
                }
            }
            try sys("listen(\(path))") { Glibc.listen(fd, backlog) }
            try makeNonBlockingCloexec(fd)
            return listener
        } catch {
            throw .system(error)
        }
    }
}
