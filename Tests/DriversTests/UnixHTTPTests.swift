import Foundation
import Glibc
import Testing
@testable import Drivers

/// The non-blocking HTTP client: many exchanges in flight on one waiting thread, each
/// answered with its own response, and every way a peer can fail it ends by its deadline.
@Suite("Unix-socket HTTP client without a thread per exchange")
struct UnixHTTPTests {
    /// A listening Unix socket in a fresh directory, served by `serve` on a thread of its
    /// own (one accepted connection at a time) until the test closes it.
    final class Listener: @unchecked Sendable {
        let directory = "/tmp/cvg-http-\(UUID().uuidString.prefix(8))"
        var path: String { "\(directory)/api.sock" }
        let fd: Int32

        init(backlog: Int32 = 512, serve: (@Sendable (Int32) -> Void)?) throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = self.path
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0 && listen(fd, backlog) == 0)
            guard let serve else { return }
            let listening = fd
            serving = true
            Thread {
                while true {
                    let client = accept(listening, nil, nil)
                    if client < 0 {  // shut down by the test
                        Glibc.close(listening)
                        return
                    }
                    serve(client)
                }
            }.start()
        }

        /// Set when a thread serves the socket: that thread closes it, once it sees it shut
        /// down. Closed here, its number could go to another test's listener while the thread
        /// is still serving, and the thread would then accept that test's connections.
        private var serving = false

        func close() {
            shutdown(fd, Int32(SHUT_RDWR))
            if !serving { Glibc.close(fd) }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Reads one request head and answers with its target as the body.
    static func echoTarget(_ client: Int32) {
        let target = String(decoding: readHead(client), as: UTF8.self).split(separator: " ").dropFirst().first ?? ""
        let response = "HTTP/1.1 200 OK\r\nContent-Length: \(target.utf8.count)\r\nConnection: close\r\n\r\n\(target)"
        _ = response.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        close(client)
    }

    static func readHead(_ client: Int32) -> [UInt8] {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.reversed().starts(with: [10, 13, 10, 13]) {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { break }
            request += buffer[0..<n]
        }
        return request
    }

    @Test("five hundred exchanges at once: each gets its own answer")
    func concurrentExchanges() async throws {
        let listener = try Listener(serve: Self.echoTarget)
        defer { listener.close() }
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<500 {
                group.addTask {
                    let response = try await UnixHTTP.request(socket: listener.path, method: "GET", target: "/call/\(i)", body: nil, timeout: 20)
                    return (i, String(decoding: response.body, as: UTF8.self))
                }
            }
            var answers: [Int: String] = [:]
            for try await (i, body) in group { answers[i] = body }
            return answers
        }
        #expect(answers.count == 500)
        #expect(answers.allSatisfy { $0.value == "/call/\($0.key)" })
    }

    @Test("a peer that accepts and never answers: timed out at the deadline, not hung")
    func silentPeer() async throws {
        let held = HeldSockets()
        let listener = try Listener(serve: { held.keep($0) })
        defer { listener.close(); held.closeAll() }
        let started = Date()
        #expect(await Self.outcome(listener.path, timeout: 0.3) == "timed out")
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= 0.3 && waited < 10, "waited \(waited) s")
    }

    @Test("a listener that never accepts and whose backlog is full: timed out, not hung")
    func fullBacklog() async throws {
        let listener = try Listener(backlog: 0, serve: nil)
        defer { listener.close() }
        let results = await withTaskGroup(of: String.self) { group in
            for _ in 0..<4 {
                group.addTask { await Self.outcome(listener.path, timeout: 0.3) }
            }
            var results: [String] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results == Array(repeating: "timed out", count: 4))
    }

    @Test("a peer that never stops sending: cut off at the deadline or the size limit, not held")
    func endlessPeer() async throws {
        let listener = try Listener(serve: { client in
            _ = Self.readHead(client)
            let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"  // no length: read to the end
            _ = head.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            let filler = [UInt8](repeating: 120, count: 65536)
            while send(client, filler, filler.count, Int32(MSG_NOSIGNAL)) > 0 {}
            close(client)
        })
        defer { listener.close() }
        let started = Date()
        let outcome = await Self.outcome(listener.path, timeout: 2)
        #expect(outcome == "timed out" || outcome == "malformed", "\(outcome)")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test("a peer that closes without a response: said so, at once")
    func closedWithoutResponse() async throws {
        let listener = try Listener(serve: { _ = Self.readHead($0); close($0) })
        defer { listener.close() }
        #expect(await Self.outcome(listener.path, timeout: 10) == "closed")
    }

    @Test("response heads as peers write them: the status, and Content-Length in any case with spaces around it", arguments: [
        ("HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:  5 \r\n\r\nhello, and more", 200, "hello"),
        ("HTTP/1.0 404 Not Found\r\nServer: x\r\nContent-Length:\t3\r\nX-Content-Length: 9\r\n\r\nabc", 404, "abc"),
        ("HTTP/1.1 204 No Content\r\n\r\n", 204, ""),
        ("HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\nno length, read to the end", 500, "no length, read to the end"),
    ])
    func responseHeads(_ raw: String, status: Int, body: String) async throws {
        let listener = try Listener(serve: { client in
            _ = Self.readHead(client)
            _ = raw.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        })
        defer { listener.close() }
        let response = try await UnixHTTP.request(socket: listener.path, method: "GET", target: "/", body: nil, timeout: 10)
        #expect(response.status == status)
        #expect(String(decoding: response.body, as: UTF8.self) == body)
    }

    @Test("a status line that is not HTTP, or a length that is negative or past the limit, is a malformed response", arguments: [
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\nabc",
    ])
    func malformedHeads(_ raw: String) async throws {
        let listener = try Listener(serve: { client in
            _ = Self.readHead(client)
            _ = raw.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        })
        defer { listener.close() }
        #expect(await Self.outcome(listener.path, timeout: 10) == "malformed")
    }

    /// How one `GET /` on `path` ended, in a word.
    static func outcome(_ path: String, timeout: Double) async -> String {
        do {
            _ = try await UnixHTTP.request(socket: path, method: "GET", target: "/", body: nil, timeout: timeout)
            return "answered"
        } catch let error as UnixHTTPError {
            switch error {
            case .timedOut: return "timed out"
            case .malformedResponse: return "malformed"
            case .closedWithoutResponse: return "closed"
            default: return "\(error)"
            }
        } catch { return "\(error)" }
    }
}

/// Connections a silent peer holds open until the test ends.
final class HeldSockets: @unchecked Sendable {
    private let lock = NSLock()
    private var fds: [Int32] = []

    func keep(_ fd: Int32) { lock.withLock { fds.append(fd) } }
    func closeAll() { lock.withLock { fds.forEach { close($0) }; fds = [] } }
}
