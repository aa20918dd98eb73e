import Foundation

/// AWS Signature Version 4 for S3 with the Authorization header. It signs whatever host and
/// path it is given (virtual-host or path style); the client uses path style.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service: String

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region.isEmpty ? "us-east-1" : region
        self.service = service
    }

    /// The headers to add to a request: authorization, x-amz-date, x-amz-content-sha256, host,
    /// and x-amz-security-token when the credentials carry a session token.
    /// - Parameters:
    ///   - host: as sent in the Host header, with ":port" when the port is not the scheme's default.
    ///   - path: the canonical URI, already URI-encoded (S3 does not encode it twice).
    ///   - query: raw (unencoded) names and values; the signer encodes and sorts them.
    ///   - headers: other headers to sign (e.g. Range); names are case-insensitive.
    ///   - payloadSHA256: lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
    public func sign(method: String, host: String, path: String, query: [(name: String, value: String)] = [],
                     headers: [String: String] = [:], payloadSHA256: String, date: Date) -> [String: String] {
        let stamp = Self.timestamp(date)
        var added = ["host": host, "x-amz-date": stamp, "x-amz-content-sha256": payloadSHA256]
        if let token = credentials.sessionToken { added["x-amz-security-token"] = token }
        var all: [String: String] = [:]
        for (name, value) in headers { all[name.lowercased()] = value }
        for (name, value) in added { all[name] = value }
        let (canonical, signedHeaders) = Self.canonicalRequest(method: method, path: path, query: query, headers: all,
                                                               payloadSHA256: payloadSHA256)
        let scope = "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(Digests.sha256Hex(Data(canonical.utf8)))"
        let signature = Digests.hex(Digests.hmacSHA256(key: signingKey(day: String(stamp.prefix(8))), data: Array(toSign.utf8)))
        added["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return added
    }

    /// The canonical request and its signed-header list (lowercase names, sorted, values trimmed
    /// with inner runs of spaces collapsed, as SigV4 specifies).
    static func canonicalRequest(method: String, path: String, query: [(name: String, value: String)],
                                 headers: [String: String], payloadSHA256: String) -> (String, String) {
        let names = headers.keys.sorted()
        let lines = names.map { "\($0):\(normalise(headers[$0] ?? ""))\n" }.joined()
        let signed = names.joined(separator: ";")
        let canonical = [method, path.isEmpty ? "/" : path, URIEncoding.canonicalQuery(query), lines, signed, payloadSHA256]
            .joined(separator: "\n")
        return (canonical, signed)
    }

    private static func normalise(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    private func signingKey(day: String) -> [UInt8] {
        var key = Digests.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), data: Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = Digests.hmacSHA256(key: key, data: Array(part.utf8)) }
        return key
    }

    /// yyyyMMdd'T'HHmmss'Z' in UTC, built from calendar fields to avoid DateFormatter's locale pitfalls.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year ?? 1970)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
    }
}
