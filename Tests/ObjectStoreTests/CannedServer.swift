import Dispatch
import Foundation
import Synchronization

/// A one-thread HTTP/1.1 server on 127.0.0.1 that answers request n with canned response n
/// (the last one repeats) and counts requests: for the failures moto cannot be made to
/// produce (503, 429, a 200 carrying <Error>, a Range ignored), and for keep-alive, which
/// moto's werkzeug server never offers (it sends Connection: close on every answer).
/// It serves one connection at a time: with `keepAlive` the client must send sequentially.
final class CannedServer: Sendable {
    struct Response: Sendable {
        var status: Int
        var body: String
        var headers: [String: String] = [:]
        /// Never answer: hold the connection until the client gives up (or 5 s pass).
        var stall = false
    }

    let port: UInt16
    private let listener: Int32
    private let responses: [Response]
    private let served = Atomic<Int>(0)
    private let accepted = Atomic<Int>(0)
    private let keepAlive: Bool
    private let onRequest: (@Sendable (Int) -> Void)?
    private let finished = DispatchSemaphore(value: 0)

    var requests: Int { served.load(ordering: .relaxed) }
    var connections: Int { accepted.load(ordering: .relaxed) }

    struct SocketError: Error {}

    /// - Parameter onRequest: called with the request's number once it has been read.
    init(_ responses: [Response], keepAlive: Bool = false, onRequest: (@Sendable (Int) -> Void)? = nil) throws {
        precondition(!responses.isEmpty)
        self.onRequest = onRequest
        self.responses = responses
        self.keepAlive = keepAlive
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard ok, listen(listener, 16) == 0 else {
            _ = Glibc.close(listener)
            throw SocketError()
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        let server = self
        Thread.detachNewThread { server.serve() }
    }

    /// Unblocks accept, then waits for the serving thread to finish.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        finished.wait()
        _ = Glibc.close(listener)
    }

    private func serve() {
        defer { finished.signal() }
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            // A stuck client must not hang the test: reads give up after 5 s.
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            accepted.add(1, ordering: .relaxed)
            while readRequest(client) {
                let n = served.add(1, ordering: .relaxed).newValue
                let response = responses[min(n, responses.count) - 1]
                onRequest?(n)
                if response.stall {
                    var byte: UInt8 = 0
                    while recv(client, &byte, 1, 0) > 0 {}  // until the client closes (or the read times out)
                    break
                }
                let body = Array(response.body.utf8)
                var head = "HTTP/1.1 \(response.status) Canned\r\nContent-Length: \(body.count)\r\n"
                head += keepAlive ? "" : "Connection: close\r\n"
                for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
                let bytes = Array((head + "\r\n").utf8) + body
                var sent = 0
                while sent < bytes.count {
                    let r = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if r <= 0 { break }
                    sent += r
                }
                if !keepAlive { break }
            }
            _ = Glibc.close(client)
        }
    }

    /// Reads the head and a Content-Length body; false if the client went away first.
    private func readRequest(_ fd: Int32) -> Bool {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var expected: Int?
        while true {
            if let end = headEnd(data) {
                if expected == nil {
                    let head = String(decoding: data[..<end], as: UTF8.self).lowercased()
                    let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                    expected = end + 4 + length
                }
                if let expected, data.count >= expected { return true }
            }
            let r = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return false }
            data += buffer[..<r]
        }
    }

    private func headEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for i in 0...(data.count - 4) where data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 {
            return i
        }
        return nil
    }
}
