/// An amount of bytes written with a Kubernetes suffix: `512Mi`, `2Gi`, `1G`, `1500M`,
/// or a plain number of bytes. Stored exactly, in bytes.
public struct Quantity: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func mebibytes(_ n: Int64) -> Quantity { Quantity(bytes: n << 20) }
    public static func gibibytes(_ n: Int64) -> Quantity { Quantity(bytes: n << 30) }

    public var mebibytes: Int64 { bytes >> 20 }

    /// Parses `text`; nil when it is not a quantity or does not come to a whole number of bytes.
    public init?(parsing text: String) {
        // One pass over the bytes, no allocation: a spec load parses tens of thousands.
        var text = text
        guard let bytes = text.withUTF8(Self.bytes(parsing:)) else { return nil }
        self.bytes = bytes
    }

    /// `Ki` … `Ei` (powers of 1024); `k`, `M` … `P` (powers of 1000).
    private static func binaryFactor(_ letter: UInt8) -> Int64? {
        switch letter {
        case UInt8(ascii: "K"): 1 << 10
        case UInt8(ascii: "M"): 1 << 20
        case UInt8(ascii: "G"): 1 << 30
        case UInt8(ascii: "T"): 1 << 40
        case UInt8(ascii: "P"): 1 << 50
        case UInt8(ascii: "E"): 1 << 60
        default: nil
        }
    }

    private static func decimalFactor(_ letter: UInt8) -> Int64? {
        switch letter {
        case UInt8(ascii: "k"): 1_000
        case UInt8(ascii: "M"): 1_000_000
        case UInt8(ascii: "G"): 1_000_000_000
        case UInt8(ascii: "T"): 1_000_000_000_000
        case UInt8(ascii: "P"): 1_000_000_000_000_000
        default: nil
        }
    }

    private static func bytes(parsing text: UnsafeBufferPointer<UInt8>) -> Int64? {
        // The suffix, when at least one byte comes before it.
        var end = text.count
        var multiplier: Int64 = 1
        if end > 2, text[end - 1] == UInt8(ascii: "i"), let factor = binaryFactor(text[end - 2]) {
            multiplier = factor
            end -= 2
        } else if end > 1, let factor = decimalFactor(text[end - 1]) {
            multiplier = factor
            end -= 1
        }
        // Digits with at most one dot, neither first nor last.
        guard end > 0, text[0] != UInt8(ascii: "."), text[end - 1] != UInt8(ascii: ".") else { return nil }
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenDot = false
        for i in 0..<end {
            let c = text[i]
            if c == UInt8(ascii: ".") {
                guard !seenDot else { return nil }
                seenDot = true
                continue
            }
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(c - UInt8(ascii: "0"))
            if seenDot {
                fractionDigits += 1
                guard fractionDigits <= 18 else { return nil }
                fraction = fraction * 10 + digit
            } else {
                let (times10, o1) = whole.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(digit)
                guard !o1, !o2 else { return nil }
                whole = sum
            }
        }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        guard fractionDigits > 0 else { return scaled }
        // A fraction must come to whole bytes: 1.5Gi is fine, 1.5 (bytes) is not.
        var denominator: Int64 = 1
        for _ in 0..<fractionDigits { denominator *= 10 }
        let (numerator, overflow2) = fraction.multipliedReportingOverflow(by: multiplier)
        guard !overflow2, numerator % denominator == 0 else { return nil }
        let (total, overflow3) = scaled.addingReportingOverflow(numerator / denominator)
        return overflow3 ? nil : total
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
