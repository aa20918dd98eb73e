/// What the server takes from a request line and headers (everything before `\r\n\r\n`).
///
/// Two readers give the same answers: `parseASCII` walks the bytes without building strings
/// (the per-request path), `parseText` splits a `String` and is kept for heads with non-ASCII
/// bytes, where Unicode rules (grapheme clusters, case mapping) can tell apart what bytes do not.
struct HTTPHead {
    /// The `Content-Length` headers, taken together.
    enum ContentLength: Equatable {
        case absent
        /// Not digits, more than 9 digits, or several headers that disagree.
        case invalid
        case bytes(Int)
    }

    /// Why the head is rejected; the text goes into the 400 body.
    struct Failure: Error {
        var reason: String
    }

    var method: String
    /// The target up to its query string.
    var path: String
    var keepAlive: Bool
    var hasTransferEncoding: Bool
    var contentLength: ContentLength
}

// MARK: - ASCII

extension HTTPHead {
    /// Reads an all-ASCII head. Checks run in the order of `parseText`, so the same malformed
    /// head gets the same reason.
    static func parseASCII(_ head: UnsafeBufferPointer<UInt8>) -> Result<HTTPHead, Failure> {
        let bytes = ASCIIBytes(bytes: head)
        var lines = CRLFLines(bytes: head)
        let requestLine = lines.next() ?? 0..<0
        guard let space1 = bytes.firstIndex(of: " ", in: requestLine),
            let space2 = bytes.firstIndex(of: " ", in: space1 + 1..<requestLine.upperBound),
            bytes.firstIndex(of: " ", in: space2 + 1..<requestLine.upperBound) == nil
        else { return .failure(Failure(reason: "invalid request line")) }
        let method = requestLine.lowerBound..<space1
        let target = space1 + 1..<space2
        let version = space2 + 1..<requestLine.upperBound
        guard !method.isEmpty, method.allSatisfy({ head[$0] >= UInt8(ascii: "A") && head[$0] <= UInt8(ascii: "Z") }) else {
            return .failure(Failure(reason: "invalid method"))
        }
        let http11 = bytes.equals(version, "HTTP/1.1")
        guard http11 || bytes.equals(version, "HTTP/1.0") else { return .failure(Failure(reason: "unsupported HTTP version")) }
        guard !target.isEmpty, head[target.lowerBound] == UInt8(ascii: "/") else {
            return .failure(Failure(reason: "invalid request target"))
        }

        var connection: Range<Int>?
        var hasTransferEncoding = false
        var firstLength: Range<Int>?
        var lengthsDisagree = false
        while let line = lines.next() {
            if line.isEmpty { continue }
            guard let colon = bytes.firstIndex(of: ":", in: line) else { return .failure(Failure(reason: "invalid header line")) }
            let name = line.lowerBound..<colon
            guard !name.isEmpty, bytes.firstIndex(of: " ", in: name) == nil else {
                return .failure(Failure(reason: "invalid header name"))
            }
            let value = bytes.trimmingSpaces(colon + 1..<line.upperBound)
            if connection == nil && bytes.equalsIgnoringCase(name, "connection") { connection = value }
            if bytes.equalsIgnoringCase(name, "transfer-encoding") { hasTransferEncoding = true }
            if bytes.equalsIgnoringCase(name, "content-length") {
                if let firstLength {
                    if !bytes.equals(value, firstLength) { lengthsDisagree = true }
                } else {
                    firstLength = value
                }
            }
        }

        var keepAlive = http11
        if let connection {
            if bytes.containsIgnoringCase(connection, "close") { keepAlive = false }
            if bytes.containsIgnoringCase(connection, "keep-alive") { keepAlive = true }
        }
        var contentLength = ContentLength.absent
        if let firstLength {
            let digits = firstLength.allSatisfy { head[$0] >= UInt8(ascii: "0") && head[$0] <= UInt8(ascii: "9") }
            if lengthsDisagree || firstLength.isEmpty || !digits || firstLength.count > 9 {
                contentLength = .invalid
            } else {
                contentLength = .bytes(firstLength.reduce(0) { $0 * 10 + Int(head[$1] - UInt8(ascii: "0")) })
            }
        }
        let pathEnd = bytes.firstIndex(of: "?", in: target) ?? target.upperBound
        return .success(HTTPHead(
            method: bytes.string(method), path: bytes.string(target.lowerBound..<pathEnd), keepAlive: keepAlive,
            hasTransferEncoding: hasTransferEncoding, contentLength: contentLength))
    }
}

/// The lines of a head split at `\r\n`, empty ones included, as `split(separator: "\r\n",
/// omittingEmptySubsequences: false)` gives them.
private struct CRLFLines {
    let bytes: UnsafeBufferPointer<UInt8>
    private var start: Int? = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func next() -> Range<Int>? {
        guard let from = start else { return nil }
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 {
                start = i + 2
                return from..<i
            }
            i += 1
        }
        start = nil
        return from..<bytes.count
    }
}

/// Byte-range helpers over an ASCII head.
private struct ASCIIBytes {
    let bytes: UnsafeBufferPointer<UInt8>

    func firstIndex(of ascii: Unicode.Scalar, in range: Range<Int>) -> Int? {
        range.first { bytes[$0] == UInt8(ascii: ascii) }
    }

    func equals(_ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { expected in zip(range, expected).allSatisfy { bytes[$0] == $1 } }
    }

    func equals(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { bytes[$0] == bytes[$1] }
    }

    /// `lowercased() == text` for a lowercase `text`.
    func equalsIgnoringCase(_ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { expected in zip(range, expected).allSatisfy { lower(bytes[$0]) == $1 } }
    }

    /// `lowercased().contains(text)` for a lowercase `text`.
    func containsIgnoringCase(_ range: Range<Int>, _ text: StaticString) -> Bool {
        text.withUTF8Buffer { needle in
            guard range.count >= needle.count else { return false }
            return (range.lowerBound...(range.upperBound - needle.count)).contains { start in
                needle.indices.allSatisfy { lower(bytes[start + $0]) == needle[$0] }
            }
        }
    }

    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper && isSpace(bytes[lower]) { lower += 1 }
        while upper > lower && isSpace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    private func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }
}
