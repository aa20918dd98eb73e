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
        case .vsockRefused(let p, let port): "nothing in the guest accepted vsock port \(port) (through \(p))"
        }
    }
}

/// Minimal HTTP/1.1 client over AF_UNIX: one connection per request, `Connection: close`,
/// a deadline on every call. Blocking I/O runs off the cooperative thread pool.
enum UnixHTTP {
    static let maximumPathLength = 107

    /// - Parameter vsockPort: the socket is a CH hybrid vsock: first ask for this guest port
    ///   (`CONNECT port`, answered `OK n`), then talk HTTP to the guest through it.
    static func request(socket path: String, method: String, target: String, body: [UInt8]?, timeout: Double,
                        vsockPort: UInt32? = nil) async throws -> HTTPResponse {
        try await Blocking.run {
            try requestBlocking(socket: path, method: method, target: target, body: body, timeout: timeout, vsockPort: vsockPort)
        }
    }

    static func requestBlocking(socket path: String, method: String, target: String, body: [UInt8]?, timeout: Double,
                                vsockPort: UInt32? = nil) throws -> HTTPResponse {
        guard path.utf8.count <= maximumPathLength else { throw UnixHTTPError.socketPathTooLong(path) }
        let fd: Int32
        do { fd = try sys("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) } } catch {
            throw UnixHTTPError.io(path, error)
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))

        do { try UnixSocket.connect(fd, to: path) } catch { throw UnixHTTPError.connect(path, error) }
        let deadline = monotonicSeconds() + timeout
        if let vsockPort { try vsockConnect(fd, port: vsockPort, path: path, timeout: timeout, deadline: deadline) }

        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" } else if method == "PUT" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        try write(fd, Array(head.utf8) + (body ?? []), path: path, timeout: timeout)
        return try readResponse(fd, path: path, timeout: timeout, deadline: deadline)
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8], path: String, timeout: Double) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw UnixHTTPError.timedOut(path, seconds: timeout) }
                throw UnixHTTPError.io(path, SystemError(call: "send", code: errno))
            }
            offset += n
        }
    }

    /// The hybrid vsock handshake: `CONNECT port\n`, then one line, `OK n\n`, read a byte at
    /// a time so that nothing of the guest's stream is consumed.
    private static func vsockConnect(_ fd: Int32, port: UInt32, path: String, timeout: Double, deadline: Double) throws {
        try write(fd, Array("CONNECT \(port)\n".utf8), path: path, timeout: timeout)
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 64 {
            let n = try receive(fd, &byte, 1, path: path, timeout: timeout, deadline: deadline)
            if n == 0 { throw UnixHTTPError.vsockRefused(path, port: port) }
            if byte == 10 { break }
            line.append(byte)
        }
        guard line.starts(with: Array("OK ".utf8)) else {
            throw UnixHTTPError.malformedResponse("vsock handshake answered '\(String(decoding: line, as: UTF8.self))'")
        }
    }

    /// One `recv`: the socket's timeout bounds each call, `deadline` the whole exchange (a
    /// peer that trickles bytes would otherwise hold the caller for a timeout per byte).
    private static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, path: String, timeout: Double,
                                deadline: Double) throws -> Int {
        while true {
            guard monotonicSeconds() < deadline else { throw UnixHTTPError.timedOut(path, seconds: timeout) }
            let n = recv(fd, buffer, count, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw UnixHTTPError.timedOut(path, seconds: timeout) }
            throw UnixHTTPError.io(path, SystemError(call: "recv", code: errno))
        }
    }

    private static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private static func readResponse(_ fd: Int32, path: String, timeout: Double, deadline: Double) throws -> HTTPResponse {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        var headerEnd: Int?
        var contentLength: Int?
        var status = 0
        while true {
            if let end = headerEnd {
                if let length = contentLength, data.count - end >= length { break }
                if contentLength == nil && (status == 204 || status == 304) { break }
            }
            let n = try chunk.withUnsafeMutableBytes { try receive(fd, $0.baseAddress!, $0.count, path: path, timeout: timeout, deadline: deadline) }
            if n == 0 { break }
            data += chunk[0..<n]
            if headerEnd == nil, let end = find(data, [13, 10, 13, 10]) {
                headerEnd = end + 4
                let head = String(decoding: data[0..<end], as: UTF8.self)
                let lines = head.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
                    throw UnixHTTPError.malformedResponse("status line '\(lines[0])'")
                }
                status = code
                for line in lines.dropFirst() {
                    let kv = line.split(separator: ":", maxSplits: 1)
                    if kv.count == 2, kv[0].lowercased() == "content-length" {
                        contentLength = Int(kv[1].trimmingCharacters(in: .whitespaces))
                    }
                }
            }
        }
        guard let end = headerEnd else {
            throw UnixHTTPError.malformedResponse(data.isEmpty ? "the connection closed without a response" : "no header end")
        }
        let body = Array(data[end..<min(data.count, end + (contentLength ?? data.count - end))])
        return HTTPResponse(status: status, body: body)
    }

    private static func find(_ data: [UInt8], _ needle: [UInt8]) -> Int? {
        guard data.count >= needle.count else { return nil }
        for i in 0...(data.count - needle.count) where data[i] == needle[0] && Array(data[i..<i + needle.count]) == needle {
            return i
        }
        return nil
    }
}
