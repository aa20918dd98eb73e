/// Label syntax, as Kubernetes has it (k8s.io/apimachinery/pkg/util/validation):
/// a key is an optional DNS-subdomain prefix and `/`, then a name; a value is empty or
/// a name. Labels reach the registry's object paths and `converge get` output, so they
/// keep to the same safe alphabet that kubectl users already know.
public enum LabelRules {
    /// Why `key` is not a valid label key, or nil.
    public static func keyProblem(_ key: String) -> String? {
        // Most keys have no prefix.
        guard key.utf8.contains(UInt8(ascii: "/")) else {
            return key.isEmpty ? "has an empty name" : nameProblem(Substring(key)).map { "has a name that \($0)" }
        }
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let name = parts.count == 2 ? parts[1] : parts[0]
        if parts.count == 2 {
            let prefix = parts[0]
            if prefix.isEmpty { return "has an empty prefix before '/'" }
            if prefix.utf8.count > SpecLimits.maximumLabelPrefixLength {
                return "has a prefix of \(prefix.utf8.count) characters; at most \(SpecLimits.maximumLabelPrefixLength) are allowed"
            }
            if !isDNSSubdomain(prefix) {
                return "has a prefix that is not a DNS subdomain (lowercase letters, digits, '-' and '.', e.g. example.com)"
            }
        }
        if name.isEmpty { return "has an empty name" }
        return nameProblem(name).map { "has a name that \($0)" }
    }

    /// Why `value` is not a valid label value, or nil. An empty value is valid.
    public static func valueProblem(_ value: String) -> String? {
        value.isEmpty ? nil : nameProblem(Substring(value))
    }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
    private static func nameProblem(_ name: Substring) -> String? {
        let bytes = name.utf8
        if bytes.count > SpecLimits.maximumLabelNameLength {
            return "is \(bytes.count) characters long; at most \(SpecLimits.maximumLabelNameLength) are allowed"
        }
        guard bytes.allSatisfy({ isAlphanumeric($0) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }) else {
            return "must contain only letters, digits, '-', '_' and '.'"
        }
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return "must start and end with a letter or digit"
        }
        return nil
    }

    /// Lowercase RFC 1123 labels joined by dots.
    private static func isDNSSubdomain(_ text: Substring) -> Bool {
        text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let bytes = label.utf8
            guard let first = bytes.first, let last = bytes.last else { return false }
            let lowerOrDigit: (UInt8) -> Bool = { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) }
            return bytes.count <= 63 && lowerOrDigit(first) && lowerOrDigit(last) && bytes.allSatisfy { lowerOrDigit($0) || $0 == 0x2d }
        }
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    }
}
