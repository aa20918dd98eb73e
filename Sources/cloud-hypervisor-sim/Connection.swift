import Glibc

/// One client connection: buffered input, buffered output, and what happens after the output.
final class Connection {
    let id: Int
    let fd: FileDescriptor
    var input: [UInt8] = []
    var output: [UInt8] = []
    /// A request of this connection waits for a delayed reply; later requests wait behind it.
    var awaitingReply = false
    /// Close once `output` is flushed (`Connection: close`, malformed request).
    var closeAfterFlush = false
    /// Exit the process once `output` is flushed (`vmm.shutdown`).
    var exitAfterFlush = false
    /// The peer closed its side; no more input.
    var peerClosed = false

    init(id: Int, fd: FileDescriptor) {
        self.id = id
        self.fd = fd
    }

    /// Reads what is available.
    ///
    /// Reads into a stack buffer: a fresh zeroed heap chunk per call cost more than the read.
    /// - Returns: false when the peer closed the connection or it failed.
    func readAvailable() -> Bool {
        let size = 16384
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { chunk in
            let raw = fd.raw
            while true {
                let n: Int
                do throws(SystemError) {
                    n = try sys("read(connection)") { read(raw, chunk.baseAddress, size) }
                } catch {
                    return error.code == EAGAIN || error.code == EWOULDBLOCK
                }
                if n == 0 {
                    peerClosed = true
                    return false
                }
                input.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<n]))
                if n < size { return true }
            }
        }
    }

    /// Writes as much of `output` as the socket takes.
    ///
    /// - Returns: false when the connection failed (EPIPE, ECONNRESET).
    func flush() -> Bool {
        while !output.isEmpty {
            let n: Int
            do {
                let raw = fd.raw
                n = try sys("send(connection)") { output.withUnsafeBytes { send(raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            } catch {
                return error.code == EAGAIN || error.code == EWOULDBLOCK
            }
            output.removeFirst(n)
        }
        return true
    }
}

@available(*, unavailable)
extension Connection: Sendable {}
