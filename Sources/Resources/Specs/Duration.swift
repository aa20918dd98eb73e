/// A span of time written `500ms`, `30s`, `5m`, `1h` or combined `1m30s`, kept in milliseconds.
public struct SpecDuration: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func seconds(_ s: Int64) -> SpecDuration { SpecDuration(milliseconds: s * 1000) }

    /// Parses `text`; nil unless it is one or more `<integer><unit>` parts (units ms, s, m, h).
    public init?(parsing text: String) {
        var total: Int64 = 0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let factor: Int64
            if rest.hasPrefix("ms") { factor = 1; rest = rest.dropFirst(2) }
            else if rest.hasPrefix("s") { factor = 1000; rest = rest.dropFirst() }
            else if rest.hasPrefix("m") { factor = 60_000; rest = rest.dropFirst() }
            else if rest.hasPrefix("h") { factor = 3_600_000; rest = rest.dropFirst() }
            else { return nil }
            let (part, overflow) = value.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            total += part
        }
        milliseconds = total
    }

    public var description: String {
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0, milliseconds > 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    public static func < (a: SpecDuration, b: SpecDuration) -> Bool { a.milliseconds < b.milliseconds }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let d = SpecDuration(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad duration \(text)"))
        }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
