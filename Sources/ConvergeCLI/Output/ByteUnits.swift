/// Bytes for people: binary units as the specs write them (`Mi`, `Gi`), rounded.
enum ByteUnits {
    private static let units: [(String, Double)] = [("Ti", 0x1p40), ("Gi", 0x1p30), ("Mi", 0x1p20), ("Ki", 0x1p10)]

    /// `8Gi`, `1.5Gi`, `640Mi`, `512` (bytes below 1Ki): one decimal below 10 of a unit.
    static func human(_ bytes: Int64) -> String {
        let value = Double(bytes)
        for (suffix, size) in units where abs(value) >= size {
            return number(value / size) + suffix
        }
        return "\(bytes)"
    }

    private static func number(_ x: Double) -> String {
        if abs(x) >= 10 { return String(Int(x.rounded())) }
        let tenths = (x * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int(tenths / 10)) : String(tenths / 10)
    }
}
