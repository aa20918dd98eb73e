import CSystemShim
import Dispatch
import Glibc

extension QEMU {
    /// One QMP socket: owns the descriptor and the bytes read past the last complete line.
    /// Not Sendable: it lives inside one `QMPClient` and is only touched on that actor's queue.
    /// The socket is non-blocking; every wait is a `poll` bounded by the caller's deadline.
    final class QMPConnection {
        let path: String
        private let fd: Int32
        private var buffer: [UInt8] = []
        /// Set once the stream can no longer be trusted: the peer closed it, an I/O error, or a
        /// request only partly written. Every later call fails at once with `.closed`.
        private(set) var isBroken = false

        init(path: String) throws(QMPError) {
            guard path.utf8.count <= UnixHTTP.maximumPathLength else { throw .socketPathTooLong(path) }
            let fd: Int32
            do {
                fd = try sys("socket(AF_UNIX)") {
                    socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                }
            } catch { throw .connect(socket: path, error) }
            do {
                // A Unix-domain connect completes at once (or fails with EAGAIN when the
                // listener's backlog is full), even on a non-blocking socket.
                try UnixSocket.connect(fd, to: path)
            } catch {
                close(fd)
                throw .connect(socket: path, error)
            }
            self.fd = fd
            self.path = path
        }

        deinit { close(fd) }

        /// Writes `bytes` whole; `passing` rides along with the first byte as SCM_RIGHTS.
        func send(_ bytes: [UInt8], passing descriptor: Int32?, command: String, deadline: Deadline) throws(QMPError) {
            guard !isBroken else { throw .closed(socket: path, command: command) }
            var offset = 0
            while offset < bytes.count {
                try wait(for: Int16(POLLOUT), command: command, deadline: deadline, partial: offset > 0)
                let n: Int = bytes[offset...].withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int in
                    if offset == 0, let descriptor {
                        return Int(cvg_send_with_fd(fd, raw.baseAddress, UInt(raw.count), descriptor))
                    }
                    return Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                if n >= 0 { offset += n; continue }
                let code = errno
                if code == EINTR || code == EAGAIN || code == EWOULDBLOCK { continue }
                isBroken = true
                if code == EPIPE || code == ECONNRESET { throw .closed(socket: path, command: command) }
                throw .io(socket: path, command: command, SystemError(call: "sendmsg(\(path))", code: code))
            }
        }

        /// The next complete line (QMP ends each message with CRLF), without its terminator.
        func readLine(command: String, deadline: Deadline) throws(QMPError) -> [UInt8] {
            while true {
                if let line = takeLine() { return line }
                guard !isBroken else { throw .closed(socket: path, command: command) }
                try wait(for: Int16(POLLIN), command: command, deadline: deadline, partial: false)
                try receive(command: command)
            }
        }

        /// A complete line if one has already arrived (reads what the socket holds, never waits).
        func readLineIfAvailable(command: String) throws(QMPError) -> [UInt8]? {
            if let line = takeLine() { return line }
            guard !isBroken else { return nil }
            var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready: Int32
            do { ready = try sys("poll(\(path))") { poll(&probe, 1, 0) } } catch {
                throw .io(socket: path, command: command, error)
            }
            guard ready > 0 else { return nil }
            try receive(command: command)
            return takeLine()
        }

        // MARK: - Internals

        private func takeLine() -> [UInt8]? {
            guard let newline = buffer.firstIndex(of: 10) else { return nil }
            var end = newline
            if end > 0, buffer[end - 1] == 13 { end -= 1 }
            let line = Array(buffer[..<end])
            buffer.removeFirst(newline + 1)
            return line
        }

        /// One `recv` of whatever is there; end of stream marks the connection broken.
        private func receive(command: String) throws(QMPError) {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 { buffer += chunk[0..<n]; return }
                if n == 0 { isBroken = true; return }
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return }
                isBroken = true
                // A peer that exits with our request still unread resets the stream (unix(7)).
                if code == ECONNRESET { return }
                throw .io(socket: path, command: command, SystemError(call: "recv(\(path))", code: code))
            }
        }

        /// Polls until `events` (or a hang-up) or the deadline. A deadline in the middle of
        /// a request leaves half a command in the stream: the connection is then broken.
        private func wait(for events: Int16, command: String, deadline: Deadline, partial: Bool) throws(QMPError) {
            while true {
                let remaining = deadline.remaining
                if remaining <= 0 {
                    if partial { isBroken = true }
                    throw .timedOut(socket: path, command: command, seconds: deadline.seconds)
                }
                var probe = pollfd(fd: fd, events: events, revents: 0)
                let ready: Int32
                do {
                    ready = try sys("poll(\(path))") { poll(&probe, 1, Int32(min((remaining * 1000).rounded(.up), 3_600_000))) }
                } catch { throw .io(socket: path, command: command, error) }
                if ready > 0 { return }
            }
        }
    }

    /// An absolute point on the monotonic clock, with the length it was made from (for messages).
    struct Deadline: Sendable {
        let end: UInt64
        let seconds: Double

        init(seconds: Double) {
            self.seconds = seconds
            end = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, seconds) * 1e9)
        }

        var remaining: Double {
            let now = DispatchTime.now().uptimeNanoseconds
            return now >= end ? 0 : Double(end - now) / 1e9
        }
    }
}
