import Foundation

extension S3Client {
    /// The object's size and ETag, or nil when it does not exist.
    public func head(_ key: String) async throws -> S3ObjectInfo? {
        do {
            let result = try await perform(Call(method: "HEAD", key: key, errorKey: key))
            return S3ObjectInfo(key: key, size: Int64(result.headers["content-length"] ?? "") ?? 0,
                                etag: Self.unquote(result.headers["etag"] ?? ""))
        } catch S3Error.notFound {
            return nil
        }
    }

    /// The whole object in memory: for small objects (manifests, records), not disk images.
    public func get(_ key: String) async throws -> Data {
        try await perform(Call(method: "GET", key: key, errorKey: key)).body
    }

    /// Stores `body` under `key` with its SHA-256 signed, so a corrupted upload is refused.
    @discardableResult
    public func put(_ key: String, body: Data, sha256: String? = nil) async throws -> String {
        let result = try await perform(Call(method: "PUT", key: key, headers: ["content-type": "application/octet-stream"],
                                             body: body, payloadSHA256: sha256, errorKey: key))
        return Self.unquote(result.headers["etag"] ?? "")
    }

    /// Deleting what is not there is success: the caller wanted it gone.
    public func delete(_ key: String) async throws {
        do {
            _ = try await perform(Call(method: "DELETE", key: key, errorKey: key))
        } catch S3Error.notFound(_, let code) where code != "NoSuchBucket" {
            return
        }
    }

    /// Every object under `prefix` (ListObjectsV2, following continuation tokens).
    public func list(prefix: String) async throws -> [S3ObjectInfo] {
        var objects: [S3ObjectInfo] = []
        var token: String?
        repeat {
            var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            if let pageSize { query.append(("max-keys", "\(pageSize)")) }
            let result = try await perform(Call(method: "GET", key: nil, query: query, errorKey: prefix))
            let xml = XMLScan(String(decoding: result.body, as: UTF8.self))
            for block in xml.blocks("Contents") {
                let entry = XMLScan(block)
                guard let key = entry.first("Key") else { continue }
                objects.append(S3ObjectInfo(key: key, size: Int64(entry.first("Size") ?? "") ?? 0,
                                            etag: Self.unquote(entry.first("ETag") ?? "")))
            }
            token = xml.first("IsTruncated") == "true" ? xml.first("NextContinuationToken") : nil
            if xml.first("IsTruncated") == "true", token == nil || token == "" {
                throw S3Error.rejected(status: 200, code: "MalformedListing",
                                       message: "a truncated listing of \(prefix) came without a continuation token")
            }
        } while token != nil
        return objects
    }

    /// Creates the bucket of `location` (tests and benches); one that is already ours is fine.
    public func createBucket() async throws {
        // Outside us-east-1 S3 wants the region named in the body.
        let body = location.region == "us-east-1" ? Data() : Data("""
            <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\
            <LocationConstraint>\(XMLScan.escape(location.region))</LocationConstraint></CreateBucketConfiguration>
            """.utf8)
        do {
            _ = try await perform(Call(method: "PUT", key: nil, body: body, errorKey: location.bucket))
        } catch S3Error.rejected(_, "BucketAlreadyOwnedByYou", _) {
            return
        }
    }

    /// Streams bytes `range` (or the whole object) into `fd` at `offset` with pwrite, hashing
    /// as they arrive, so a multi-GiB image never sits in memory. A retry rewrites the same
    /// region from the start. Returns the lowercase hex SHA-256 of the bytes written.
    public func download(_ key: String, range: ClosedRange<Int64>?, into fd: Int32, at offset: Int64,
                         progress: @Sendable (Int64) -> Void = { _ in }) async throws -> String {
        // The closure only runs while this call awaits the transfer; the relay is emptied
        // before returning, so it cannot outlive the caller's frame.
        try await withoutActuallyEscaping(progress) { progress in
            let relay = ProgressRelay(progress)
            defer { relay.clear() }
            let limit = range.map { $0.upperBound - $0.lowerBound + 1 }
            var headers: [String: String] = [:]
            if let range { headers["range"] = "bytes=\(range.lowerBound)-\(range.upperBound)" }
            let call = Call(method: "GET", key: key, headers: headers,
                            sink: .file(fd: fd, offset: offset, limit: limit, progress: relay), errorKey: key,
                            check: { result in Self.checkDownload(result, key: key, limit: limit) })
            let result = try await perform(call)
            return Digests.hex(result.sha256)
        }
    }

    /// A short ranged body, or a whole-object SHA-256 that disagrees with the one S3 stored.
    private static func checkDownload(_ result: HTTPResult, key: String, limit: Int64?) -> S3Error? {
        if let limit, result.written != limit {
            return .rejected(status: result.status, code: "ShortRange",
                             message: "S3 sent \(result.written) bytes of \(key) for a range of \(limit)")
        }
        // Only a single-part object's stored checksum covers exactly these bytes ("…-N" is composite).
        if limit == nil, let stored = result.headers["x-amz-checksum-sha256"], !stored.contains("-") {
            let actual = Data(result.sha256).base64EncodedString()
            if stored != actual { return .checksumMismatch(key: key, expected: stored, actual: actual) }
        }
        return nil
    }

    static func unquote(_ etag: String) -> String {
        var text = etag
        if text.hasPrefix("W/") { text.removeFirst(2) }
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        return text
    }
}
