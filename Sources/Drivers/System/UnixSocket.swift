import Glibc

/// Unix-domain socket addressing, once for every client (REST, QMP).
enum UnixSocket {
    /// Connects `fd` to the socket at `path` (the caller checked its length).
    static func connect(_ fd: Int32, to path: String) throws(SystemError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        try sys("connect(\(path))") {
            withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            } }
        }
    }
}
