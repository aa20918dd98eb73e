import Glibc

extension UnixHTTP {
    /// Requests to one peer over one persistent HTTP/1.1 connection, one after another: for
    /// calls that come in pairs, such as an action and the check after it. A balloon pass
    /// sizes a thousand guests; a connection each instead of two saves the VMMs a thousand
    /// accepts.
    ///
    /// The connection is opened at the first request and again whenever the peer's last
    /// answer could not be followed by another (it asked to close, or was read to the end).
    /// A GET that finds a reused connection closed before any answer is sent once more on a
    /// new one: the peer may close idle connections. Other methods are not sent twice.
    /// Used by one task at a time; `close()` ends it.
    final class Session: @unchecked Sendable {
        let path: String
        private var fd: Int32 = -1

        init(socket path: String) {
            self.path = path
        }

        deinit { close() }

        func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }

        func request(method: String, target: String, body: [UInt8]?, timeout: Double) async throws -> HTTPResponse {
            let deadline = SocketReadiness.now() + timeout
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
