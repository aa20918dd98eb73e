// MARK: - Non-ASCII heads

extension HTTPHead {
    /// Reads a head through `String`: the reference behaviour, used when a head has non-ASCII
    /// bytes. Lines split at the `\r\n` grapheme, matching and case folding follow Unicode.
    static func parseText(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<HTTPHead, Failure> {
        guard let head = String(validating: bytes, as: UTF8.self) else {
            return .failure(Failure(reason: "request header is not UTF-8"))
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return .failure(Failure(reason: "invalid request line")) }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard !method.isEmpty, method.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return .failure(Failure(reason: "invalid method"))
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { return .failure(Failure(reason: "unsupported HTTP version")) }
        guard target.hasPrefix("/") else { return .failure(Failure(reason: "invalid request target")) }

        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .failure(Failure(reason: "invalid header line")) }
            let name = String(line[..<colon])
            guard !name.isEmpty, !name.contains(" ") else { return .failure(Failure(reason: "invalid header name")) }
            headers.append((name, line[line.index(after: colon)...].trimmingSpaces()))
        }
        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value
        }

        var keepAlive = version == "HTTP/1.1"
        if let connection = header("connection")?.lowercased() {
            if connection.contains("close") { keepAlive = false }
            if connection.contains("keep-alive") { keepAlive = true }
        }
        var contentLength = ContentLength.absent
        let lengths = headers.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        if let first = lengths.first {
            if lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                first.count <= 9, let n = Int(first)
            {
                contentLength = .bytes(n)
            } else {
                contentLength = .invalid
            }
        }
        return .success(HTTPHead(
            method: method, path: String(target.split(separator: "?", maxSplits: 1).first ?? ""), keepAlive: keepAlive,
            hasTransferEncoding: header("transfer-encoding") != nil, contentLength: contentLength))
    }
}
