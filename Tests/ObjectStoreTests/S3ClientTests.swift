import Foundation
import Synchronization
import Testing
@testable import ObjectStore

/// Counts the HTTP attempts a client makes (its observeAttempt hook).
final class AttemptCounter: Sendable {
    let count = Atomic<Int>(0)
    func hook() -> @Sendable (String, String) -> Void { { _, _ in self.count.add(1, ordering: .relaxed) } }
}

/// Bytes that differ at every offset, so a part in the wrong place cannot compare equal.
func pattern(_ count: Int, seed: UInt32) -> Data {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state = state &* 1_664_525 &+ 1_013_904_223
        bytes[i] = UInt8(truncatingIfNeeded: state >> 24)
    }
    return Data(bytes)
}

/// A temporary file opened read-write; removed by `close()`.
struct TempFile {
    let path: String
    let fd: Int32
    init() throws {
        path = NSTemporaryDirectory() + "objectstore-\(UUID().uuidString)"
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        if fd < 0 { throw CocoaError(.fileWriteUnknown) }
    }
    func contents() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    func close() {
        _ = Glibc.close(fd)
        unlink(path)
    }
}

@Suite("S3 client against moto with signature checks")
struct S3ClientTests {
    @Test("put/get/head/list/delete round trip with keys that need encoding; paging; missing keys")
    func roundTrip() async throws {
        try await S3TestServer.with { server in
            var client = S3Client(location: server.location, credentials: server.credentials)
            client.pageSize = 2  // four objects in pages of two: the continuation token must be followed
            let keys = ["dir one/ünïcødé file+plus.bin", "dir one/a&b=c?d#e", "dir one/tilde~_-.x", "dir one/sub/deep%20literal"]
            var stored: [String: Data] = [:]
            for (i, key) in keys.enumerated() {
                let body = pattern(1000 + i * 333, seed: UInt32(i + 1))
                let etag = try await client.put(key, body: body)
                #expect(!etag.isEmpty && !etag.contains("\""))
                stored[key] = body
            }
            _ = try await client.put("outside/other", body: Data("x".utf8))
            for key in keys {
                #expect(try await client.get(key) == stored[key])
                let info = try #require(try await client.head(key))
                #expect(info.key == key && info.size == Int64(stored[key]?.count ?? -1))
            }
            let listed = try await client.list(prefix: "dir one/")
            #expect(Set(listed.map(\.key)) == Set(keys))
            #expect(listed.count == keys.count)
            for object in listed { #expect(object.size == Int64(stored[object.key]?.count ?? -1)) }
            #expect(listed.first { $0.key == keys[0] }?.etag == (try await client.head(keys[0]))?.etag)
            #expect(try await client.put("empty", body: Data()) != "")
            #expect(try await client.get("empty") == Data())

            try await client.delete(keys[0])
            try await client.delete(keys[0])  // gone already: still fine
            #expect(try await client.head(keys[0]) == nil)
            #expect(try await client.list(prefix: "dir one/").count == keys.count - 1)
            #expect(try await client.head("never/was") == nil)
            await #expect(throws: S3Error.notFound(key: "never/was", code: "NoSuchKey")) { try await client.get("never/was") }
            try await client.createBucket()  // already ours: fine
        }
    }

    @Test("multipart: three parts, listParts before completing, ranged downloads into a file with SHA-256, abort")
    func multipart() async throws {
        try await S3TestServer.with(partMinSize: 1 << 20) { server in
            var client = S3Client(location: server.location, credentials: server.credentials)
            client.pageSize = 2  // ListParts pages of two parts
            let sizes = [1 << 20, 1 << 20, 100_000]
            let parts = sizes.enumerated().map { pattern($0.element, seed: UInt32(100 + $0.offset)) }
            let whole = parts.reduce(Data(), +)
            let key = "images/disk one.raw"
            let upload = try await client.createMultipartUpload(key)
            let uploader = client  // parts go up in parallel, sharing the client's handle pool
            let etags = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (i, part) in parts.enumerated() {
                    group.addTask { (i + 1, try await uploader.uploadPart(key, uploadID: upload, number: i + 1, body: part)) }
                }
                return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
            }
            #expect(try await client.listParts(key, uploadID: upload) == etags)
            #expect(try await client.head(key) == nil)  // nothing visible before completing
            try await client.completeMultipartUpload(key, uploadID: upload, parts: etags.map { (number: $0.key, etag: $0.value) })
            #expect(try await client.head(key)?.size == Int64(whole.count))

            // Whole object, at an offset, with progress reaching the full size.
            let file = try TempFile()
            defer { file.close() }
            let lastProgress = Atomic<Int64>(0)
            let digest = try await client.download(key, range: nil, into: file.fd, at: 10,
                                                   progress: { lastProgress.store($0, ordering: .relaxed) })
            #expect(digest == Digests.sha256Hex(whole))
            #expect(lastProgress.load(ordering: .relaxed) == Int64(whole.count))
            #expect(try file.contents() == Data(count: 10) + whole)

            // Ranges crossing part boundaries, written where they belong in a second file.
            let pieces: [ClosedRange<Int64>] = [0...999_999, 1_000_000...2_100_000, 2_100_001...Int64(whole.count - 1)]
            let second = try TempFile()
            defer { second.close() }
            for range in pieces {
                let sha = try await client.download(key, range: range, into: second.fd, at: range.lowerBound)
                #expect(sha == Digests.sha256Hex(whole[Int(range.lowerBound)...Int(range.upperBound)]))
            }
            #expect(try second.contents() == whole)
            await #expect(throws: S3Error.self) { try await client.download("nope", range: nil, into: second.fd, at: 0) }
            do {
                _ = try await client.download("nope", range: nil, into: second.fd, at: 0)
            } catch let error as S3Error {
                guard case .notFound(let missing, _) = error else { Issue.record("got \(error)"); return }
                #expect(missing == "nope")
            }
            #expect(try second.contents() == whole)  // a 404 body is never written into the file

            // A part list the server does not know is refused, and an aborted upload is gone.
            let other = try await client.createMultipartUpload("images/aborted")
            _ = try await client.uploadPart("images/aborted", uploadID: other, number: 1, body: parts[2])
            await #expect(throws: S3Error.self) {
                try await client.completeMultipartUpload("images/aborted", uploadID: other, parts: [(number: 1, etag: "0000")])
            }
            try await client.abortMultipartUpload("images/aborted", uploadID: other)
            try await client.abortMultipartUpload("images/aborted", uploadID: other)  // already gone: fine
            do {
                _ = try await client.listParts("images/aborted", uploadID: other)
                Issue.record("listParts of an aborted upload succeeded")
            } catch let error as S3Error {
                guard case .notFound = error else { Issue.record("got \(error)"); return }
            }
            #expect(try await client.head("images/aborted") == nil)
        }
    }

    @Test("a wrong secret is denied after exactly one request, and no description shows a secret")
    func wrongSecret() async throws {
        try await S3TestServer.with { server in
            let counter = AttemptCounter()
            let wrongSecret = "WrongSecretValue0123456789abcdefghijKLMN"
            var client = S3Client(location: server.location,
                                  credentials: S3Credentials(accessKeyID: server.info.accessKeyID, secretAccessKey: wrongSecret))
            client.observeAttempt = counter.hook()
            var descriptions: [String] = []
            do {
                try await client.put("denied", body: Data("x".utf8))
                Issue.record("a wrong secret was accepted")
            } catch let error as S3Error {
                guard case .denied(let code, _) = error else { Issue.record("got \(error)"); return }
                #expect(code == "SignatureDoesNotMatch")
                #expect(!error.isRetryable)
                descriptions.append("\(error)")
                descriptions.append(String(reflecting: error))
            }
            #expect(counter.count.load(ordering: .relaxed) == 1)
            #expect(descriptions.first?.contains("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") == true)

            // An unknown access key is denied too, and HEAD (no error body) still says denied.
            let stranger = S3Client(location: server.location,
                                    credentials: S3Credentials(accessKeyID: "AKIAUNKNOWNKEY000000", secretAccessKey: wrongSecret))
            for operation in [{ _ = try await stranger.get("x") }, { _ = try await stranger.head("x") }] as [@Sendable () async throws -> Void] {
                do {
                    try await operation()
                    Issue.record("an unknown key was accepted")
                } catch let error as S3Error {
                    guard case .denied = error else { Issue.record("got \(error)"); return }
                    descriptions.append("\(error)")
                }
            }
            #expect(descriptions.count == 4)
            for text in descriptions {
                #expect(!text.contains(wrongSecret) && !text.contains(server.info.secretAccessKey))
                #expect(!text.contains("Signature=") && !text.lowercased().contains("authorization"))
            }
        }
    }

    @Test("the fixture stops moto when it is done")
    func fixtureCleansUp() async throws {
        var pid: Int32 = 0
        try await S3TestServer.with(bucket: "cleanup-check") { server in
            pid = server.info.pid
            #expect(server.motoAlive)
            let client = S3Client(location: server.location, credentials: server.credentials)
            let listed = try await client.list(prefix: "")
            #expect(listed.isEmpty)
        }
        #expect(pid > 0 && kill(pid, 0) != 0)
    }

    @Test("a closed port gives .transport after exactly the policy's attempts")
    func connectionRefused() async throws {
        let port = try closedPort()
        let counter = AttemptCounter()
        var client = S3Client(location: S3Location(endpoint: "http://127.0.0.1:\(port)", region: "us-east-1", bucket: "converge-test"),
                              credentials: S3Credentials(accessKeyID: "AKIAEXAMPLE", secretAccessKey: "RefusedSecret0123456789"),
                              retry: S3RetryPolicy(attempts: 2, baseDelay: 0.01))
        client.observeAttempt = counter.hook()
        do {
            _ = try await client.get("k")
            Issue.record("a closed port answered")
        } catch let error as S3Error {
            guard case .transport(let reason) = error else { Issue.record("got \(error)"); return }
            #expect(error.isRetryable)
            #expect(reason.contains("127.0.0.1"))
            #expect(!"\(error)".contains("RefusedSecret0123456789"))
        }
        #expect(counter.count.load(ordering: .relaxed) == 2)
    }

    /// A port nothing listens on: bound by us, then closed.
    func closedPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { _ = Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        if !bound { throw CocoaError(.fileWriteUnknown) }
        return UInt16(bigEndian: address.sin_port)
    }
}
