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
        var number = Substring(text)
        var multiplier: Int64 = 1
        for (suffix, factor) in Self.suffixes where text.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            multiplier = factor
            break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != "."
        else { return nil }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard let whole = Int64(parts[0]) else { return nil }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        var total = scaled
        if parts.count == 2 {
            // A fraction must come to whole bytes: 1.5Gi is fine, 1.5 (bytes) is not.
            let digits = parts[1]
            guard digits.count <= 18, let fraction = Int64(digits) else { return nil }
            var denominator: Int64 = 1
            for _ in 0..<digits.count { denominator *= 10 }
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
