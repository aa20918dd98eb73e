import Foundation
import Glibc

/// An HTTP response read from a Unix socket.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
}

/// A failure talking HTTP over a Unix socket (the socket itself, not an error status).
public enum UnixHTTPError: Error, Sendable, CustomStringConvertible {
    case socketPathTooLong(String)
    case connect(String, SystemError)
    case io(String, SystemError)
    case timedOut(String, seconds: Double)
    case malformedResponse(String)
    /// The peer closed the connection before a byte of an answer.
    case closedWithoutResponse(String)
    /// CH's hybrid vsock closed the connection instead of answering `OK`: nothing in the
    /// guest listens on that port (yet).
    case vsockRefused(String, port: UInt32)

    public var description: String {
        switch self {
        case .socketPathTooLong(let p): "socket path \(p) is longer than the 107 bytes a Unix socket allows; use a shorter sockets directory"
        case .connect(let p, let e): "cannot connect to \(p): \(e)"
        case .io(let p, let e): "I/O on \(p): \(e)"
        case .timedOut(let p, let s): "no answer on \(p) within \(s)s"
        case .malformedResponse(let why): "malformed HTTP response: \(why)"
        case .closedWithoutResponse(let p): "\(p) closed the connection without a response"
        case .vsockRefused(let p, let port): "nothing in the guest accepted vsock port \(port) (through \(p))"
        }
    }
}

/// Minimal HTTP/1.1 client over AF_UNIX: one connection per request, `Connection: close`,
/// a deadline on every call (`UnixHTTP.Session` keeps one connection for a few requests).
/// The socket is non-blocking: a task waiting for an answer holds no thread
/// (`SocketReadiness`).
enum UnixHTTP {
    static let maximumPathLength = 107

    /// - Parameter vsockPort: the socket is a CH hybrid vsock: first ask for this guest port
    ///   (`CONNECT port`, answered `OK n`), then talk HTTP to the guest through it.
    static func request(socket path: String, method: String, target: String, body: [UInt8]?, timeout: Double,
                        vsockPort: UInt32? = nil) async throws -> HTTPResponse {
        let fd = try openSocket(path)
        defer { close(fd) }
        let connection = Connection(fd: fd, path: path, timeout: timeout, deadline: SocketReadiness.now() + timeout)
        try await connection.connect()
        if let vsockPort { try await vsockConnect(connection, port: vsockPort) }
        return try await exchange(connection, method: method, target: target, body: body, keepAlive: false).response
    }

    /// A non-blocking Unix stream socket, not yet connected.
    static func openSocket(_ path: String) throws -> Int32 {
        guard path.utf8.count <= maximumPathLength else { throw UnixHTTPError.socketPathTooLong(path) }
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        do { return try sys("socket") { socket(AF_UNIX, flags, 0) } } catch {
            throw UnixHTTPError.io(path, error)
        }
    }

    /// Sends one request and reads its answer.
    /// - Returns: the response, and whether the connection can carry another request: the
    ///   answer was delimited (a length, or a status without a body) and did not ask to close.
    static func exchange(_ connection: Connection, method: String, target: String, body: [UInt8]?,
                         keepAlive: Bool) async throws -> (response: HTTPResponse, reusable: Bool) {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" } else if method == "PUT" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        try await connection.send(Array(head.utf8) + (body ?? []))
        return try await readResponse(connection)
    }

    /// One exchange's socket, path and deadline: every wait ends by the deadline, so a peer
    /// that trickles bytes cannot hold the caller for a timeout per byte.
    struct Connection {
        let fd: Int32
        let path: String
        let timeout: Double
        let deadline: Double

        /// A Unix socket whose listener's backlog is full refuses a non-blocking connect
        /// (EAGAIN) and offers nothing to wait on: tried again, sooner than later, until
        /// the deadline.
        func connect() async throws {
            var pause: UInt64 = 500_000
            while true {
                do { return try UnixSocket.connect(fd, to: path) } catch where error.code == EAGAIN && SocketReadiness.now() < deadline {
                    try await Task.sleep(nanoseconds: pause)
                    pause = min(pause * 2, 50_000_000)
                } catch where error.code == EAGAIN {
                    throw UnixHTTPError.timedOut(path, seconds: timeout)
                } catch {
                    throw UnixHTTPError.connect(path, error)
                }
            }
        }

        func send(_ bytes: [UInt8]) async throws {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n >= 0 { offset += n; continue }
                if errno == EINTR { continue }
                guard errno == EAGAIN || errno == EWOULDBLOCK else { throw UnixHTTPError.io(path, SystemError(call: "send", code: errno)) }
                try await ready(.writable)
            }
        }

        /// One `recv` of at most `count` bytes; 0 when the peer closed. The deadline is
        /// checked before every call: a peer that never stops sending must not hold us.
        func receive(_ buffer: UnsafeMutableRawPointer, _ count: Int) async throws -> Int {
            while true {
                guard SocketReadiness.now() < deadline else { throw UnixHTTPError.timedOut(path, seconds: timeout) }
                let n = recv(fd, buffer, count, 0)
                if n >= 0 { return n }
                if errno == EINTR { continue }
                guard errno == EAGAIN || errno == EWOULDBLOCK else { throw UnixHTTPError.io(path, SystemError(call: "recv", code: errno)) }
                try await ready(.readable)
            }
        }

        private func ready(_ interest: SocketReadiness.Interest) async throws {
            guard SocketReadiness.now() < deadline else { throw UnixHTTPError.timedOut(path, seconds: timeout) }
            switch await SocketReadiness.shared.wait(fd, interest, until: deadline) {
            case .ready: return
            case .timedOut: throw UnixHTTPError.timedOut(path, seconds: timeout)
            case .failed(let error): throw UnixHTTPError.io(path, error)
            }
        }
    }

    /// The hybrid vsock handshake: `CONNECT port\n`, then one line, `OK n\n`, read a byte at
    /// a time so that nothing of the guest's stream is consumed.
    private static func vsockConnect(_ connection: Connection, port: UInt32) async throws {
        try await connection.send(Array("CONNECT \(port)\n".utf8))
        var line: [UInt8] = []
        let byte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        defer { byte.deallocate() }
        while line.count < 64 {
            let n = try await connection.receive(byte, 1)
            if n == 0 { throw UnixHTTPError.vsockRefused(connection.path, port: port) }
            if byte.pointee == 10 { break }
            line.append(byte.pointee)
        }
        guard line.starts(with: Array("OK ".utf8)) else {
            throw UnixHTTPError.malformedResponse("vsock handshake answered '\(String(decoding: line, as: UTF8.self))'")
        }
    }

    /// More than any answer of a VMM or guest agent: a peer that sends more is broken.
    static let maximumResponse = 16 << 20

    private static func readResponse(_ connection: Connection) async throws -> (response: HTTPResponse, reusable: Bool) {
        var data: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 16384, alignment: 1)
        defer { chunk.deallocate() }
        var headerEnd: Int?
        var contentLength: Int?
        var status = 0, closes = false, delimited = false
        while true {
            if let end = headerEnd {
                if let length = contentLength, data.count - end >= length { delimited = true; break }
                if contentLength == nil && (status == 204 || status == 304) { delimited = true; break }
            }
            let n = try await connection.receive(chunk.baseAddress!, chunk.count)
            if n == 0 { break }
            let searchFrom = max(0, data.count - 3)
            data += UnsafeRawBufferPointer(rebasing: chunk[0..<n])
            guard data.count <= maximumResponse else {
                throw UnixHTTPError.malformedResponse("the answer is longer than \(maximumResponse >> 20) MiB")
            }
            if headerEnd == nil, let end = find(data, [13, 10, 13, 10], from: searchFrom) {
                headerEnd = end + 4
                (status, contentLength, closes) = try parseHead(data[0..<end])
            }
        }
        guard let end = headerEnd else {
            throw data.isEmpty ? UnixHTTPError.closedWithoutResponse(connection.path) : UnixHTTPError.malformedResponse("no header end")
        }
        let body = Array(data[end..<min(data.count, end + (contentLength ?? data.count - end))])
        // Bytes past the answer were not asked for: the connection is out of step.
        let reusable = delimited && !closes && data.count == end + (contentLength ?? 0)
        return (HTTPResponse(status: status, body: body), reusable)
    }

    /// The status code, Content-Length and `Connection: close` of a response head (without
    /// its blank line), read from its bytes: a thousand answers a pass are parsed here.
    private static func parseHead(_ head: ArraySlice<UInt8>) throws -> (status: Int, contentLength: Int?, closes: Bool) {
        var lines = head.split(separator: 10, omittingEmptySubsequences: false).map { line in
            line.last == 13 ? line.dropLast() : line
        }[...]
        let statusLine = lines.popFirst() ?? []
        let parts = statusLine.split(separator: UInt8(ascii: " "), maxSplits: 2)
        guard parts.count >= 2, parts[0].starts(with: "HTTP/1.".utf8),
              let code = Int(String(decoding: parts[1], as: UTF8.self)) else {
            throw UnixHTTPError.malformedResponse("status line '\(String(decoding: statusLine, as: UTF8.self))'")
        }
        var contentLength: Int?
        var close = false, keepAlive = false, chunked = false
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == 32 || $0 == 9 }
            let text = String(decoding: value.reversed().drop { $0 == 32 || $0 == 9 }.reversed(), as: UTF8.self)
            if isName(line[..<colon], "content-length") {
                guard let length = Int(text), (0...maximumResponse).contains(length) else {
                    throw UnixHTTPError.malformedResponse("Content-Length '\(text)'")
                }
                contentLength = length
            } else if isName(line[..<colon], "connection") {
                let options = text.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                close = close || options.contains("close")
                keepAlive = keepAlive || options.contains("keep-alive")
            } else if isName(line[..<colon], "transfer-encoding") {
                chunked = true
            }
        }
        // An HTTP/1.0 peer keeps a connection only when it says so. A chunked body (which
        // no VMM or agent sends) is read to the end, as one without a length, and ends the
        // connection.
        let http10 = parts[0].elementsEqual("HTTP/1.0".utf8)
        let closes = close || chunked || (http10 && !keepAlive)
        return (code, chunked ? nil : contentLength, closes)
    }

    /// A header name compared without case; `lowercase` is in lower case.
    private static func isName(_ name: ArraySlice<UInt8>, _ lowercase: String) -> Bool {
        name.count == lowercase.utf8.count && zip(name, lowercase.utf8).allSatisfy { ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) == $1 }
    }

    private static func find(_ data: [UInt8], _ needle: [UInt8], from start: Int) -> Int? {
        guard data.count >= needle.count, start <= data.count - needle.count else { return nil }
        for i in start...(data.count - needle.count) where data[i] == needle[0] && data[i..<i + needle.count].elementsEqual(needle) {
            return i
        }
        return nil
    }
}
