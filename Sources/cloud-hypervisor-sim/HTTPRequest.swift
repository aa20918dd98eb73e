/// One parsed HTTP/1.x request.
struct HTTPRequest: Equatable, Sendable {
    var method: String
    /// The target without a query string, e.g. `/api/v1/vm.boot`.
    var path: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// False after `Connection: close` (or HTTP/1.0 without `keep-alive`).
    var keepAlive: Bool

    static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.path == rhs.path && lhs.body == rhs.body && lhs.keepAlive == rhs.keepAlive
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    /// The value of the first header named `name` (case-insensitive).
    func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// An incremental HTTP/1.x request parser over a connection's input buffer.
enum HTTPParser {
    /// The result of looking at the buffered bytes.
    enum Outcome: Equatable {
        /// More bytes are needed.
        case incomplete
        /// One request, and how many buffered bytes it used.
        case request(HTTPRequest, consumed: Int)
        /// Not HTTP this server accepts; answer 400 and close.
        case malformed(String)
    }

    /// Largest accepted request line plus headers.
    static let maximumHeaderBytes = 64 * 1024
    /// Largest accepted body.
    static let maximumBodyBytes = 16 * 1024 * 1024

    /// Parses the first request in `buffer`.
    static func parse(_ buffer: [UInt8]) -> Outcome {
        guard let headerEnd = findHeaderEnd(buffer) else {
            return buffer.count > maximumHeaderBytes ? .malformed("request header too large") : .incomplete
        }
        guard headerEnd <= maximumHeaderBytes else { return .malformed("request header too large") }
        guard let head = String(validating: buffer[0..<headerEnd], as: UTF8.self) else {
            return .malformed("request header is not UTF-8")
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return .malformed("invalid request line") }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard !method.isEmpty, method.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return .malformed("invalid method")
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { return .malformed("unsupported HTTP version") }
        guard target.hasPrefix("/") else { return .malformed("invalid request target") }

        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .malformed("invalid header line") }
            let name = String(line[..<colon])
            guard !name.isEmpty, !name.contains(" ") else { return .malformed("invalid header name") }
            let value = line[line.index(after: colon)...].trimmingSpaces()
            headers.append((name, value))
        }
        var request = HTTPRequest(
            method: method, path: String(target.split(separator: "?", maxSplits: 1).first ?? ""),
            headers: headers, body: [], keepAlive: version == "HTTP/1.1")
        if let connection = request.header("Connection")?.lowercased() {
            if connection.contains("close") { request.keepAlive = false }
            if connection.contains("keep-alive") { request.keepAlive = true }
        }
        if request.header("Transfer-Encoding") != nil { return .malformed("Transfer-Encoding is not supported") }

        let bodyStart = headerEnd + 4
        var length = 0
        let lengths = headers.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                first.count <= 9, let n = Int(first)
            else { return .malformed("invalid Content-Length") }
            guard n <= maximumBodyBytes else { return .malformed("body too large") }
            length = n
        }
        guard buffer.count >= bodyStart + length else { return .incomplete }
        request.body = Array(buffer[bodyStart..<bodyStart + length])
        return .request(request, consumed: bodyStart + length)
    }

    private static func findHeaderEnd(_ buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
