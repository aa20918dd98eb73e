/// One parsed HTTP/1.x request.
struct HTTPRequest: Equatable, Sendable {
    var method: String
    /// The target without a query string, e.g. `/api/v1/vm.boot`.
    var path: String
    var body: [UInt8]
    /// False after `Connection: close` (or HTTP/1.0 without `keep-alive`).
    var keepAlive: Bool
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
        let parsed = buffer.withUnsafeBufferPointer { all in
            let head = UnsafeBufferPointer(rebasing: all[0..<headerEnd])
            // Plain ASCII (every real client) is read byte by byte; anything else takes the
            // `String` route, whose Unicode rules (graphemes, case mapping) decide those cases.
            return head.allSatisfy({ $0 < 0x80 }) ? HTTPHead.parseASCII(head) : HTTPHead.parseText(head)
        }
        let head: HTTPHead
        switch parsed {
        case .failure(let failure): return .malformed(failure.reason)
        case .success(let parsedHead): head = parsedHead
        }
        if head.hasTransferEncoding { return .malformed("Transfer-Encoding is not supported") }

        let bodyStart = headerEnd + 4
        var length = 0
        switch head.contentLength {
        case .absent: break
        case .invalid: return .malformed("invalid Content-Length")
        case .bytes(let n):
            guard n <= maximumBodyBytes else { return .malformed("body too large") }
            length = n
        }
        guard buffer.count >= bodyStart + length else { return .incomplete }
        let request = HTTPRequest(
            method: head.method, path: head.path, body: Array(buffer[bodyStart..<bodyStart + length]),
            keepAlive: head.keepAlive)
        return .request(request, consumed: bodyStart + length)
    }

    /// The offset of the first `\r\n\r\n`.
    private static func findHeaderEnd(_ buffer: [UInt8]) -> Int? {
        buffer.withUnsafeBufferPointer { bytes in
            guard bytes.count >= 4 else { return nil }
            var i = 0
            while i <= bytes.count - 4 {
                if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i }
                i += 1
            }
            return nil
        }
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
