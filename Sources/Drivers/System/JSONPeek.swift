/// Reads one integer out of a JSON document without decoding the rest of it.
///
/// A balloon pass verifies a thousand balloons, each from a VMM's whole `vm.info` (a few
/// kilobytes of config) for the one number it needs; `JSONDecoder`'s fixed costs were most
/// of that. This scan checks the document's structure as it goes (brackets, strings,
/// numbers, literals) but not the UTF-8 of strings it skips. Whatever it cannot answer for
/// sure is `.unsure`, and the caller decodes the document as usual.
enum JSONPeek {
    enum Result: Equatable {
        case integer(Int64)
        /// `path[depth]` is absent or null in an object found at `path[..<depth]`.
        case absent(depth: Int)
        /// Malformed, or the path leads through something other than objects to something
        /// other than an integer, or a key on the path is escaped or repeated, or a key of an
        /// object on the path is not ASCII.
        case unsure
    }

    static func integer(at path: [String], in bytes: [UInt8]) -> Result {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(bytes: buffer, path: path.map { Array($0.utf8) })
            guard scanner.value(depth: 0, nesting: 0), scanner.atEnd() else { return .unsure }
            return scanner.result ?? .unsure
        }
    }
}

private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let path: [[UInt8]]
    var i = 0
    var result: JSONPeek.Result?

    init(bytes: UnsafeBufferPointer<UInt8>, path: [[UInt8]]) {
        self.bytes = bytes
        self.path = path
    }

    /// Scans one value. `depth`: the path keys it was reached through, or nil off the path.
    /// False when the document is malformed or the answer cannot be sure.
    mutating func value(depth: Int?, nesting: Int) -> Bool {
        skipSpace()
        guard i < bytes.count, nesting < 512 else { return false }
        let isTarget = depth == path.count
        switch bytes[i] {
        case UInt8(ascii: "{"):
            if isTarget { return false }
            return object(depth: depth, nesting: nesting)
        case UInt8(ascii: "["):
            if depth != nil { return false }
            return array(nesting: nesting)
        case UInt8(ascii: "\""):
            if depth != nil { return false }
            return string() != nil
        case UInt8(ascii: "n"):
            guard literal("null") else { return false }
            if let depth { if depth == 0 { return false } else { result = .absent(depth: depth - 1) } }
            return true
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            return depth == nil && (literal("true") || literal("false"))
        default:
            guard let number = number() else { return false }
            guard isTarget else { return depth == nil }
            guard let integer = number else { return false }
            result = .integer(integer)
            return true
        }
    }

    private mutating func object(depth: Int?, nesting: Int) -> Bool {
        i += 1
        var found = false
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                guard let key = string() else { return false }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
                i += 1
                var next: Int?
                // JSONDecoder reads every key of an object it decodes as a String, and fails
                // on one that is not UTF-8: on the path, a key beyond ASCII is not sure.
                if depth != nil, key.range.contains(where: { $0 >= 0x80 }) { return false }
                if let depth, key.escaped || key.range.elementsEqual(path[depth]) {
                    // An escaped key might spell the path's key: not sure.
                    guard !key.escaped, !found else { return false }
                    found = true
                    next = depth + 1
                }
                guard value(depth: next, nesting: nesting + 1) else { return false }
                skipSpace()
                guard i < bytes.count else { return false }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                guard bytes[i] == UInt8(ascii: ",") else { return false }
                i += 1
            }
        }
        if let depth, !found { result = .absent(depth: depth) }
        return true
    }

    private mutating func array(nesting: Int) -> Bool {
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return true }
        while true {
            guard value(depth: nil, nesting: nesting + 1) else { return false }
            skipSpace()
            guard i < bytes.count else { return false }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return true }
            guard bytes[i] == UInt8(ascii: ",") else { return false }
            i += 1
        }
    }

    /// A string's bytes between its quotes, and whether it holds an escape.
    private mutating func string() -> (range: Slice<UnsafeBufferPointer<UInt8>>, escaped: Bool)? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        let start = i
        var escaped = false
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                i += 1
                return (bytes[start..<(i - 1)], escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                guard i + 1 < bytes.count else { return nil }
                if bytes[i + 1] == UInt8(ascii: "u") {
                    guard i + 5 < bytes.count, bytes[(i + 2)...(i + 5)].allSatisfy(\.isHexDigit) else { return nil }
                    i += 6
                } else {
                    guard "\"\\/bfnrt".utf8.contains(bytes[i + 1]) else { return nil }
                    i += 2
                }
            case 0..<0x20:
                return nil
            default:
                i += 1
            }
        }
        return nil
    }

    /// A JSON number: nil when malformed; `.some(nil)` when it is not an integer that fits.
    private mutating func number() -> Int64?? {
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let digits = i
        while i < bytes.count, bytes[i].isDigit { i += 1 }
        guard i > digits, bytes[digits] != UInt8(ascii: "0") || i == digits + 1 else { return nil }
        var isInteger = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            let fraction = i
            while i < bytes.count, bytes[i].isDigit { i += 1 }
            guard i > fraction else { return nil }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let exponent = i
            while i < bytes.count, bytes[i].isDigit { i += 1 }
            guard i > exponent else { return nil }
        }
        guard isInteger else { return .some(nil) }
        return .some(Int64(String(decoding: bytes[start..<i], as: UTF8.self)))
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard i + count <= bytes.count else { return false }
        let matches = word.withUTF8Buffer { bytes[i..<(i + count)].elementsEqual($0) }
        if matches { i += count }
        return matches
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func atEnd() -> Bool {
        skipSpace()
        return i == bytes.count
    }
}

private extension UInt8 {
    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    var isHexDigit: Bool { isDigit || (self | 0x20 >= UInt8(ascii: "a") && self | 0x20 <= UInt8(ascii: "f")) }
}
