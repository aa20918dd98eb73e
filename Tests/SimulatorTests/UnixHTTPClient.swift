import Foundation
import Glibc

/// A parsed HTTP response from the simulator.
struct HTTPReply: Sendable {
    var status: Int
    /// Header names lower-cased.
    var headers: [String: String]
    var body: String

    /// The body decoded with `JSONSerialization`, or nil.
    var json: Any? {
        guard !body.isEmpty else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed])
    }

    /// The body as a JSON object.
    var object: [String: Any] { json as? [String: Any] ?? [:] }

    /// The body as a JSON array of strings (an error body), or nil.
    var errorMessages: [String]? { json as? [String] }
}

/// What went wrong talking to the simulator.
struct ClientError: Error, CustomStringConvertible {
    var description: String
}

/// A tiny HTTP/1.1 client over one AF_UNIX stream connection, written for these tests only
/// (so that a bug in the Converge driver's client cannot hide a bug in the simulator).
final class UnixHTTPClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to `socketPath`; reads time out after `timeout` seconds.
    init(socketPath: String, timeout: Int = 10) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket: errno \(errno)") }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // No close here: every stored property is set, so `deinit` runs when init throws, and a
        // second close could hit a descriptor number another test thread has reused.
        guard rc == 0 else { throw ClientError(description: "connect(\(socketPath)): errno \(errno)") }
    }

    deinit { close(fd) }

    /// Sends one request and reads its response.
    func request(_ method: String, _ path: String, body: String? = nil, extraHeaders: [String] = []) throws -> HTTPReply {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        for header in extraHeaders { head += header + "\r\n" }
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            head += "\r\n"
        }
        try sendRaw(head)
        return try readReply()
    }

    /// Writes raw bytes.
    func sendRaw(_ text: String) throws {
        var bytes = Array(text.utf8)
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError(description: "send: errno \(errno)")
            }
            bytes.removeFirst(n)
        }
    }

    /// Reads one response (status line, headers, `Content-Length` body).
    func readReply() throws -> HTTPReply {
        var headerEnd: Int?
        while headerEnd == nil {
            headerEnd = find([13, 10, 13, 10])
            if headerEnd == nil { try fill() }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw ClientError(description: "bad status line in \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let start = headerEnd! + 4
        while buffer.count < start + length { try fill() }
        let body = String(decoding: buffer[start..<start + length], as: UTF8.self)
        buffer.removeFirst(start + length)
        return HTTPReply(status: status, headers: headers, body: body)
    }

    /// Whether the server closed the connection (reads EOF) within the receive timeout.
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0
    }

    /// Reads one `\n`-terminated line (without the newline), e.g. a vsock `OK <n>` reply.
    func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[0..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            try fill()
        }
    }

    /// Whether the peer closed the connection (EOF or reset) without sending a byte, within the
    /// receive timeout.
    func closedWithoutReply() -> Bool {
        guard buffer.isEmpty else { return false }
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            return n == 0 || (n < 0 && errno == ECONNRESET)
        }
    }

    /// Whether nothing arrives (no byte, no EOF) within `milliseconds`.
    func receivesNothing(withinMilliseconds milliseconds: Int32) -> Bool {
        guard buffer.isEmpty else { return false }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var rc = poll(&entry, 1, milliseconds)
        while rc == -1 && errno == EINTR { rc = poll(&entry, 1, milliseconds) }
        return rc == 0
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { return }
        guard n > 0 else { throw ClientError(description: n == 0 ? "connection closed" : "recv: errno \(errno)") }
        buffer += chunk[0..<n]
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where Array(buffer[i..<i + needle.count]) == needle { return i }
        return nil
    }
}
