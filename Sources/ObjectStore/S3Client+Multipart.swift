import Foundation

/// Multipart uploads: how images larger than one PUT (5 GiB) or worth sending in parallel go up.
extension S3Client {
    /// Starts an upload and returns its UploadId.
    public func createMultipartUpload(_ key: String) async throws -> String {
        let result = try await perform(Call(method: "POST", key: key, query: [("uploads", "")],
                                            headers: ["content-type": "application/octet-stream"], errorKey: key))
        guard let id = XMLScan(String(decoding: result.body, as: UTF8.self)).first("UploadId"), !id.isEmpty else {
            throw S3Error.rejected(status: result.status, code: "MissingUploadId",
                                   message: "CreateMultipartUpload for \(key) answered without an UploadId")
        }
        return id
    }

    /// Sends one part from memory; its SHA-256 is signed (x-amz-content-sha256), so S3 refuses a
    /// part corrupted on the way. Returns the part's ETag without quotes.
    /// - Parameter sha256: the body's SHA-256 in hex, when the caller computed it already.
    public func uploadPart(_ key: String, uploadID: String, number: Int, body: Data, sha256: String? = nil) async throws -> String {
        let result = try await perform(Call(method: "PUT", key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
                                            body: body, payloadSHA256: sha256, errorKey: key))
        guard let etag = result.headers["etag"], !etag.isEmpty else {
            throw S3Error.rejected(status: result.status, code: "MissingETag", message: "part \(number) of \(key) came back without an ETag")
        }
        return Self.unquote(etag)
    }

    /// Assembles the parts (sorted by number, as S3 requires). A 200 carrying an <Error>
    /// document is an error, as S3 documents for this call.
    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [(number: Int, etag: String)]) async throws {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.number < $1.number }) {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\"\(XMLScan.escape(part.etag))\"</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let client = self
        _ = try await perform(Call(method: "POST", key: key, query: [("uploadId", uploadID)],
                                   headers: ["content-type": "application/xml"], body: Data(xml.utf8), errorKey: key,
                                   check: { client.embeddedError($0, key: key) }))
    }

    /// Discards an upload and its parts; an upload already gone is fine.
    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        do {
            _ = try await perform(Call(method: "DELETE", key: key, query: [("uploadId", uploadID)], errorKey: key))
        } catch S3Error.notFound(_, let code) where code != "NoSuchBucket" {
            return
        }
    }

    /// The parts that have landed (ListParts, paginated): number → ETag. Lets an interrupted
    /// upload resume with only the missing parts. Throws .notFound for an unknown upload id.
    public func listParts(_ key: String, uploadID: String) async throws -> [Int: String] {
        var parts: [Int: String] = [:]
        var marker: String?
        repeat {
            var query: [(name: String, value: String)] = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            if let pageSize { query.append(("max-parts", "\(pageSize)")) }
            let result = try await perform(Call(method: "GET", key: key, query: query, errorKey: key))
            let xml = XMLScan(String(decoding: result.body, as: UTF8.self))
            for block in xml.blocks("Part") {
                let part = XMLScan(block)
                guard let number = part.first("PartNumber").flatMap({ Int($0) }) else { continue }
                parts[number] = Self.unquote(part.first("ETag") ?? "")
            }
            let next = xml.first("NextPartNumberMarker")
            // A marker that does not advance would loop forever; stop on it.
            marker = xml.first("IsTruncated") == "true" && next != nil && next != marker ? next : nil
        } while marker != nil
        return parts
    }
}
