import Foundation
import Glibc

extension UnixHTTP {
    /// Requests to one peer over one persistent HTTP/1.1 connection, one after another: for
    /// calls that come in pairs, such as an action and the check after it. A balloon pass
    /// sizes a thousand guests; a connection each instead of two saves the VMMs a thousand
    /// accepts.
    ///
    /// The connection is opened at the first request and again whenever the peer's last
    /// answer could not be followed by another (it asked to close, or was read to the end),
    /// or the peer closed it or sent more since (a look before each request). A GET that
    /// still finds a reused connection closed before any answer is sent once more on a new
    /// one. Other methods are never sent twice. A request made while another is in flight
    /// (two tasks sharing the session) gets a connection of its own. `close()` ends it.
    final class Session: @unchecked Sendable {
        let path: String
        private var fd: Int32 = -1
        private let lock = NSLock()
        private var busy = false

        init(socket path: String) {
            self.path = path
        }

        deinit { close() }

        func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }

        func request(method: String, target: String, body: [UInt8]?, timeout: Double) async throws -> HTTPResponse {
            guard claim() else { return try await UnixHTTP.request(socket: path, method: method, target: target, body: body, timeout: timeout) }
            defer { lock.withLock { busy = false } }
            let deadline = SocketReadiness.now() + timeout
            if fd >= 0 && !idleAndOpen() { close() }
            let reused = fd >= 0
            do {
                return try await exchange(method, target, body, timeout: timeout, deadline: deadline)
            } catch let error as UnixHTTPError where reused && method == "GET" && Self.peerClosed(error) {
                close()
                return try await exchange(method, target, body, timeout: timeout, deadline: deadline)
            }
        }

        private func exchange(_ method: String, _ target: String, _ body: [UInt8]?, timeout: Double, deadline: Double) async throws -> HTTPResponse {
            if fd < 0 {
                fd = try UnixHTTP.openSocket(path)
                do { try await Connection(fd: fd, path: path, timeout: timeout, deadline: deadline).connect() } catch {
                    close()
                    throw error
                }
            }
            let connection = Connection(fd: fd, path: path, timeout: timeout, deadline: deadline)
            do {
                let (response, reusable) = try await UnixHTTP.exchange(connection, method: method, target: target, body: body, keepAlive: true)
                if !reusable { close() }
                return response
            } catch {
                close()
                throw error
            }
        }

        private func claim() -> Bool {
            lock.withLock {
                if busy { return false }
                busy = true
                return true
            }
        }

        /// The kept connection has nothing unread and the peer has not closed it: a peek
        /// that finds no byte to read, without waiting.
        private func idleAndOpen() -> Bool {
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        }

        /// The peer had closed its end before this request: nothing of an answer was read.
        private static func peerClosed(_ error: UnixHTTPError) -> Bool {
            switch error {
            case .closedWithoutResponse: true
            case .io(_, let cause): [EPIPE, ECONNRESET].contains(cause.code)
            default: false
            }
        }
    }
}
