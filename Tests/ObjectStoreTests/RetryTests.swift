import Foundation
import Testing
@testable import ObjectStore

/// Failure handling against canned answers: what is retried, how often, and what is not.
@Suite("S3 client retries and error answers")
struct RetryTests {
    static let credentials = S3Credentials(accessKeyID: "AKIAEXAMPLE", secretAccessKey: "CannedSecret0123456789abcdef")

    /// Runs `body` with a client of the canned server, stopping the server whatever happens.
    func with(_ responses: [CannedServer.Response], attempts: Int = 4, keepAlive: Bool = false,
              _ body: (S3Client, CannedServer) async throws -> Void) async throws {
        let server = try CannedServer(responses, keepAlive: keepAlive)
        defer { server.stop() }
        let client = S3Client(location: S3Location(endpoint: "http://127.0.0.1:\(server.port)", region: "us-east-1", bucket: "canned"),
                              credentials: Self.credentials, retry: S3RetryPolicy(attempts: attempts, baseDelay: 0.01))
        try await body(client, server)
    }

    static func error(_ code: String, _ message: String = "canned") -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>\(message)</Message></Error>"
    }

    @Test("503 SlowDown and 429 are retried until an answer comes")
    func retriedUntilSuccess() async throws {
        try await with([.init(status: 503, body: Self.error("SlowDown")), .init(status: 429, body: Self.error("TooManyRequests")),
                        .init(status: 200, body: "payload")]) { client, server throws in
            #expect(try await client.get("k") == Data("payload".utf8))
            #expect(server.requests == 3)
        }
    }

    @Test("a 500 that persists gives .server after exactly the policy's attempts, with the request id")
    func serverGivesUp() async throws {
        try await with([.init(status: 500, body: Self.error("InternalError", "We encountered an internal error"),
                              headers: ["x-amz-request-id": "REQ123"])], attempts: 3) { client, server throws in
            await #expect(throws: S3Error.server(status: 500, code: "InternalError", message: "We encountered an internal error (request REQ123)")) {
                try await client.put("k", body: Data("x".utf8))
            }
            #expect(server.requests == 3)
        }
    }

    @Test("a 400 is rejected at once, and a 403 without a body is denied at once")
    func notRetried() async throws {
        try await with([.init(status: 400, body: Self.error("InvalidArgument", "bad"))]) { client, server throws in
            await #expect(throws: S3Error.rejected(status: 400, code: "InvalidArgument", message: "bad")) { try await client.get("k") }
            #expect(server.requests == 1)
        }
        try await with([.init(status: 403, body: "")]) { client, server throws in
            await #expect(throws: S3Error.denied(code: "AccessDenied", message: "HTTP 403")) { try await client.head("k") }
            #expect(server.requests == 1)
        }
    }

    @Test("CompleteMultipartUpload: a 200 with an <Error> body is an error, retried when the code is InternalError")
    func completeErrorIn200() async throws {
        let done = "<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag></CompleteMultipartUploadResult>"
        try await with([.init(status: 200, body: Self.error("InternalError")), .init(status: 200, body: done)]) { client, server throws in
            try await client.completeMultipartUpload("k", uploadID: "u", parts: [(number: 1, etag: "a"), (number: 2, etag: "b")])
            #expect(server.requests == 2)
        }
        try await with([.init(status: 200, body: Self.error("InvalidPart", "One or more of the specified parts could not be found"))]) { client, server throws in
            await #expect(throws: S3Error.rejected(status: 400, code: "InvalidPart", message: "One or more of the specified parts could not be found")) {
                try await client.completeMultipartUpload("k", uploadID: "u", parts: [(number: 1, etag: "a")])
            }
            #expect(server.requests == 1)
        }
    }

    @Test("a server that ignores Range cannot write past the range into the file")
    func rangeIgnored() async throws {
        try await with([.init(status: 200, body: String(repeating: "z", count: 100))]) { client, server throws in
            let file = try TempFile()
            defer { file.close() }
            await #expect(throws: S3Error.self) { try await client.download("k", range: 0...9, into: file.fd, at: 0) }
            #expect(try file.contents().count <= 10)
            #expect(server.requests == 1)
        }
    }

    @Test("sequential requests reuse one kept-alive connection (the handle pool keeps curl's connection cache)")
    func keepAlive() async throws {
        try await with([.init(status: 200, body: "same")], keepAlive: true) { client, server throws in
            for _ in 0..<5 { #expect(try await client.get("k") == Data("same".utf8)) }
            try await client.put("k", body: Data(count: 100_000))
            #expect(server.requests == 6)
            #expect(server.connections == 1)
            #expect(client.transport.connectionsOpened.value.load(ordering: .relaxed) == 1)
        }
    }

    @Test("cancelling the calling task aborts a transfer that is waiting for an answer")
    func cancellation() async throws {
        let (arrived, signal) = AsyncStream.makeStream(of: Int.self)
        let server = try CannedServer([.init(status: 200, body: "", stall: true)], onRequest: { signal.yield($0) })
        defer { server.stop() }
        let client = S3Client(location: S3Location(endpoint: "http://127.0.0.1:\(server.port)", region: "us-east-1", bucket: "canned"),
                              credentials: Self.credentials)
        let started = ContinuousClock.now
        let task = Task { try await client.get("k") }
        var requests = arrived.makeAsyncIterator()
        #expect(await requests.next() == 1)  // the request is on the wire and unanswered
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        // curl's progress callback runs about once a second while idle; the stall would last 5 s.
        #expect(ContinuousClock.now - started < .seconds(4))
        #expect(server.requests == 1)
    }

    @Test("a server message echoing the secret is scrubbed from the error")
    func secretScrubbed() async throws {
        try await with([.init(status: 400, body: Self.error("InvalidRequest", "key \(Self.credentials.secretAccessKey) is odd"))]) { client, _ throws in
            do {
                _ = try await client.get("k")
                Issue.record("no error")
            } catch {
                #expect(!"\(error)".contains(Self.credentials.secretAccessKey))
                #expect("\(error)".contains("key <hidden> is odd"))
            }
        }
    }
}
