import Foundation
import Glibc
import Testing
@testable import Drivers

/// A session's requests share one connection while the peer keeps it open, and go on over a
/// new one when the peer closes it between requests.
@Suite("Unix-socket HTTP session: one connection for a call and its check")
struct UnixHTTPSessionTests {
    typealias Listener = UnixHTTPTests.Listener

    /// Counts the connections a listener accepted.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }

    /// Answers every request on a connection with its target, `Content-Length` delimited,
    /// until the client closes; `closeAfter` ends the connection after that many answers
    /// without saying so in a header, as a peer that drops idle connections would.
    static func serve(_ client: Int32, closeAfter: Int = .max) {
        var answered = 0
        while answered < closeAfter {
            let head = UnixHTTPTests.readHead(client)
            if head.isEmpty { break }
            let target = String(decoding: head, as: UTF8.self).split(separator: " ").dropFirst().first ?? ""
            Self.send(client, "HTTP/1.1 200 OK\r\nContent-Length: \(target.utf8.count)\r\n\r\n\(target)")
            answered += 1
        }
        close(client)
    }

    static func send(_ client: Int32, _ response: String) {
        _ = response.withCString { Glibc.send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    @Test("requests in a session share one connection, each with its own answer")
    func sharesOneConnection() async throws {
        let accepted = Counter()
        let listener = try Listener(serve: { accepted.add(); Self.serve($0) })
        defer { listener.close() }
        let session = UnixHTTP.Session(socket: listener.path)
        for i in 0..<5 {
            let response = try await session.request(method: i % 2 == 0 ? "PUT" : "GET", target: "/r\(i)", body: nil, timeout: 10)
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "/r\(i)")
        }
        session.close()
        #expect(accepted.value == 1)
    }

    @Test("a GET whose reused connection closes before its answer goes out again on a new one")
    func getRetriedOnNewConnection() async throws {
        let accepted = Counter()
        let listener = try Listener(serve: { client in
            accepted.add()
            if accepted.value == 1 {
                // Answer the first request; read the second and close without answering.
                _ = UnixHTTPTests.readHead(client)
                Self.send(client, "HTTP/1.1 204 No Content\r\n\r\n")
                _ = UnixHTTPTests.readHead(client)
                close(client)
            } else {
                Self.serve(client)
            }
        })
        defer { listener.close() }
        let session = UnixHTTP.Session(socket: listener.path)
        defer { session.close() }
        #expect(try await session.request(method: "PUT", target: "/vm.resize", body: nil, timeout: 10).status == 204)
        let info = try await session.request(method: "GET", target: "/vm.info", body: nil, timeout: 10)
        #expect(String(decoding: info.body, as: UTF8.self) == "/vm.info")
        #expect(accepted.value == 2)
    }

    @Test("a connection the peer closed while idle is seen before the next request, a PUT included: it goes out on a new one")
    func idleCloseSeenBeforeSending() async throws {
        let accepted = Counter(), closed = Counter()
        let listener = try Listener(serve: { accepted.add(); Self.serve($0, closeAfter: 1); closed.add() })
        defer { listener.close() }
        let session = UnixHTTP.Session(socket: listener.path)
        defer { session.close() }
        _ = try await session.request(method: "PUT", target: "/vm.resize", body: nil, timeout: 10)
        let deadline = Date().addingTimeInterval(10)
        while closed.value < 1 && Date() < deadline { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(closed.value == 1, "the peer never closed")
        let second = try await session.request(method: "PUT", target: "/vm.pause", body: nil, timeout: 10)
        #expect(String(decoding: second.body, as: UTF8.self) == "/vm.pause")
        #expect(accepted.value == 2)
    }

    @Test("a PUT whose connection closes before its answer is not sent twice: its failure is the caller's")
    func putAfterPeerClosedFails() async throws {
        let accepted = Counter()
        let listener = try Listener(serve: { client in
            accepted.add()
            _ = UnixHTTPTests.readHead(client)
            Self.send(client, "HTTP/1.1 204 No Content\r\n\r\n")
            // Wait for the second request, then close without answering it.
            _ = UnixHTTPTests.readHead(client)
            close(client)
        })
        defer { listener.close() }
        let session = UnixHTTP.Session(socket: listener.path)
        defer { session.close() }
        #expect(try await session.request(method: "PUT", target: "/vm.pause", body: nil, timeout: 10).status == 204)
        await #expect(throws: UnixHTTPError.self) {
            _ = try await session.request(method: "PUT", target: "/vm.resume", body: nil, timeout: 10)
        }
        #expect(accepted.value == 1)
    }

    @Test("an answer that asks to close, or has no length, ends the connection: the next request opens another")
    func answersThatEndTheConnection() async throws {
        let accepted = Counter()
        let listener = try Listener(serve: { client in
            accepted.add()
            _ = UnixHTTPTests.readHead(client)
            Self.send(client, accepted.value == 1
                ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Close\r\n\r\nok"
                : "HTTP/1.1 200 OK\r\n\r\nto the end")
            close(client)
        })
        defer { listener.close() }
        let session = UnixHTTP.Session(socket: listener.path)
        defer { session.close() }
        #expect(String(decoding: try await session.request(method: "PUT", target: "/a", body: nil, timeout: 10).body, as: UTF8.self) == "ok")
        #expect(String(decoding: try await session.request(method: "PUT", target: "/b", body: nil, timeout: 10).body, as: UTF8.self) == "to the end")
        #expect(accepted.value == 2)
    }
}
