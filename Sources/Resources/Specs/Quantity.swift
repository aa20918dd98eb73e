/// An amount of bytes written with a Kubernetes suffix: `512Mi`, `2Gi`, `1G`, `1500M`,
/// or a plain number of bytes. Stored exactly, in bytes.
public struct Quantity: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func mebibytes(_ n: Int64) -> Quantity { Quantity(bytes: n << 20) }
    public static func gibibytes(_ n: Int64) -> Quantity { Quantity(bytes: n << 30) }

    public var mebibytes: Int64 { bytes >> 20 }

    private static let suffixes: [(String, Int64)] = [
        ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("Pi", 1 << 50), ("Ei", 1 << 60),
        ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000), ("P", 1_000_000_000_000_000),
    ]

    /// Parses `text`; nil when it is not a quantity or does not come to a whole number of bytes.
    public init?(parsing text: String) {
        // Bytes throughout: a spec load parses thousands of these.
        var digits = Array(text.utf8)
        var multiplier: Int64 = 1
        for (suffix, factor) in Self.suffixes where digits.count > suffix.utf8.count && digits.suffix(suffix.utf8.count).elementsEqual(suffix.utf8) {
            digits.removeLast(suffix.utf8.count)
            multiplier = factor
            break
        }
        let isDigit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
        let dots = digits.indices.filter { digits[$0] == 0x2e }
        guard !digits.isEmpty, dots.count <= 1, digits.allSatisfy({ isDigit($0) || $0 == 0x2e }),
              digits.first != 0x2e, digits.last != 0x2e
        else { return nil }
        let wholeDigits = digits[..<(dots.first ?? digits.count)]
        guard let whole = Int64(String(decoding: wholeDigits, as: UTF8.self)) else { return nil }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        var total = scaled
        if let dot = dots.first {
            // A fraction must come to whole bytes: 1.5Gi is fine, 1.5 (bytes) is not.
            let fractionDigits = digits[(dot + 1)...]
            guard fractionDigits.count <= 18, let fraction = Int64(String(decoding: fractionDigits, as: UTF8.self)) else { return nil }
            var denominator: Int64 = 1
            for _ in 0..<fractionDigits.count { denominator *= 10 }
            let (numerator, overflow2) = fraction.multipliedReportingOverflow(by: multiplier)
            guard !overflow2, numerator % denominator == 0 else { return nil }
            total += numerator / denominator
        }
        self.bytes = total
    }

    /// The shortest exact binary form: `2Gi`, `1536Mi`, `1000` bytes.
    public var description: String {
        for (suffix, factor) in [("Ei", Int64(1) << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        where bytes != 0 && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)"
    }

    /// Rounds up to a multiple of `unit`, as CH's memory must be a multiple of 128 MiB.
    public func roundedUp(to unit: Quantity) -> Quantity {
        let remainder = bytes % unit.bytes
        return remainder == 0 ? self : Quantity(bytes: bytes + unit.bytes - remainder)
    }

    public static func < (a: Quantity, b: Quantity) -> Bool { a.bytes < b.bytes }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let q = Quantity(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad quantity \(text)"))
        }
        self = q
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
