/// The parts of `S3Location.endpoint` a request needs: the URL prefix, the Host header
/// (signed, so it must match what goes on the wire) and any base path before the bucket.
struct Endpoint: Sendable {
    var scheme: String
    var authority: String
    var hostHeader: String
    var basePath: String

    /// nil when the endpoint is not an http(s) URL.
    init?(_ text: String) {
        guard let separator = text.firstRange(of: "://") else { return nil }
        scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = text[separator.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        authority = String(rest[..<slash])
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        basePath = path
        // curl leaves a default port out of Host, and the signature must cover the same string.
        let defaultPort = scheme == "https" ? ":443" : ":80"
        hostHeader = authority.hasSuffix(defaultPort) ? String(authority.dropLast(defaultPort.count)) : authority
    }

    /// Path-style: {base}/{bucket}/{encoded key}, or {base}/{bucket} for bucket requests.
    func path(bucket: String, key: String?) -> String {
        let bucketPath = "\(basePath)/\(URIEncoding.encode(bucket, keepSlash: false))"
        guard let key else { return bucketPath }
        return "\(bucketPath)/\(URIEncoding.encode(key, keepSlash: true))"
    }

    func url(path: String, query: [(name: String, value: String)]) -> String {
        let q = URIEncoding.canonicalQuery(query)
        return "\(scheme)://\(authority)\(path)" + (q.isEmpty ? "" : "?\(q)")
    }
}
