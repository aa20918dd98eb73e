import Dispatch
import Foundation
import Glibc

/// One parsed HTTP/1.1 request.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query.
    public var path: String
    public var query: [String: String]
    /// Lowercased names.
    public var headers: [String: String]
    public var body: Data
    /// Path and query as sent, for error bodies.
    public var target: String
}

/// A response to send.
public struct HTTPReply: Sendable {
    public var status: Int
    public var contentType = "application/json"
    public var body: Data

    public init(status: Int, contentType: String = "application/json", body: Data) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// A small HTTP/1.1 server over a TCP socket: one request per connection
/// (`Connection: close`), each handled in its own child task. `run()` ends when its task
/// is cancelled.
public final class HTTPServer: Sendable {
    private let fd: Int32
    /// `HOST:PORT` actually bound (port 0 picks a free one).
    public let boundAddress: String
    private let handler: @Sendable (HTTPRequest) async -> HTTPReply

    /// Binds `address` (`HOST:PORT`, IPv4) and listens.
    /// - Throws: `BridgeIOError` naming the failed call.
    public init(address: String, handler: @escaping @Sendable (HTTPRequest) async -> HTTPReply) throws {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw BridgeIOError(what: "--serve \(address) (want HOST:PORT)", code: EINVAL) }
        let host = parts[0].isEmpty ? "0.0.0.0" : String(parts[0])
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { throw BridgeIOError(what: "--serve \(address) (HOST must be an IPv4 address)", code: EINVAL) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BridgeIOError(what: "socket", code: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw BridgeIOError(what: "bind/listen \(address)", code: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        boundAddress = "\(host):\(UInt16(bigEndian: sin.sin_port))"
        self.fd = fd
        self.handler = handler
    }

    deinit { close(fd) }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            while !Task.isCancelled {
                // poll with a short timeout so cancellation is seen without closing the socket under accept.
                let listening = fd
                let client: Int32? = await Self.blocking {
                    var p = pollfd(fd: listening, events: Int16(POLLIN), revents: 0)
                    guard poll(&p, 1, 200) > 0 else { return nil }
                    let c = accept(listening, nil, nil)
                    guard c >= 0 else { return nil }
                    _ = fcntl(c, F_SETFD, FD_CLOEXEC)  // Glibc hides accept4
                    return c
                }
                guard let client else { continue }
                group.addTask { await self.serve(client) }
            }
            group.cancelAll()
        }
    }

    private func serve(_ client: Int32) async {
        defer { close(client) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let request = await Self.blocking({ HTTPWire.read(client) }) else { return }
        let reply = await handler(request)
        let wire = HTTPWire.encode(reply)
        _ = await Self.blocking { wire.withUnsafeBytes { HTTPWire.writeAll(client, $0) } }
    }

    /// Runs blocking socket work on a Dispatch thread, never on a cooperative one.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in DispatchQueue.global().async { c.resume(returning: body()) } }
    }
}
