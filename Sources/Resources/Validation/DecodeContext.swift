/// Collects every diagnostic of one file while its documents are decoded, so that a
/// user sees all problems at once instead of one per run.
final class DecodeContext {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    func error(_ mark: Mark, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: mark, message: message))
    }
}

/// A mapping being read field by field; whatever is left at `finish` is an unknown field.
/// Ten thousand specs make a hundred thousand of these: reading one allocates once.
struct FieldReader {
    // Mappings in specs hold a handful of keys: a linear scan beats hashing every key.
    private let pairs: [Node.Pair]
    let mark: Mark
    let path: String
    /// Keys asked for (present or not), for the "known fields" of an error.
    private var asked: [String] = []
    /// Which pairs were taken, by position: a bit each for the first 64 (every mapping a
    /// spec really has), a set beyond.
    private var takenBits: UInt64 = 0
    private var takenBeyond: Set<Int> = []

    /// Nil (with a diagnostic) when `node` is not a mapping.
    init?(_ node: Node, path: String, _ context: DecodeContext) {
        guard case .mapping(let pairs, let mark) = node else {
            context.error(node.mark, "\(path) must be a mapping, found \(node.shapeName)")
            return nil
        }
        self.pairs = pairs
        self.mark = mark
        self.path = path
        asked.reserveCapacity(16)
    }

    /// The first pair with `key` (the reader rejects duplicate keys; a caller may build one anyway).
    private func position(_ key: String) -> Int? {
        // Lengths first: most keys of a mapping are not the one asked for.
        let length = key.utf8.count
        return pairs.firstIndex { $0.key.text.utf8.count == length && $0.key.text == key }
    }

    private mutating func markTaken(_ i: Int) {
        if i < 64 { takenBits |= 1 << UInt64(i) } else { takenBeyond.insert(i) }
    }

    private func isTaken(_ i: Int) -> Bool { i < 64 ? takenBits & (1 << UInt64(i)) != 0 : takenBeyond.contains(i) }

    /// The value of `key`, if present and not null.
    mutating func take(_ key: String) -> Node? {
        asked.append(key)
        guard let i = position(key) else { return nil }
        // Every pair with this key counts as known, as with a set of taken names.
        for j in i..<pairs.count where pairs[j].key.text == key { markTaken(j) }
        if case .scalar(let s) = pairs[i].value, s.isNull { return nil }
        return pairs[i].value
    }

    func keyMark(_ key: String) -> Mark? { position(key).map { pairs[$0].key.mark } }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Reports every key that no `take` asked for.
    func finish(_ context: DecodeContext) {
        guard pairs.indices.contains(where: { !isTaken($0) }) else { return }
        let known = Set(asked).sorted().joined(separator: ", ")
        for (i, pair) in pairs.enumerated() where !isTaken(i) {
            context.error(pair.key.mark, "unknown field '\(field(pair.key.text))' (known fields: \(known))")
        }
    }

    /// Every pair, in source order.
    var allPairs: [Node.Pair] { pairs }
}

// MARK: - Scalars

extension DecodeContext {
    func scalar(_ node: Node, _ field: String) -> Node.Scalar? {
        guard case .scalar(let s) = node else {
            error(node.mark, "\(field) must be a scalar, found \(node.shapeName)")
            return nil
        }
        return s
    }

    func string(_ node: Node, _ field: String) -> String? {
        guard let s = scalar(node, field) else { return nil }
        return s.text
    }

    func int(_ node: Node, _ field: String, in range: ClosedRange<Int>) -> Int? {
        guard let s = scalar(node, field) else { return nil }
        guard s.isPlain, let value = Int(s.text) else {
            error(s.mark, "\(field) must be an integer, found '\(s.text)'")
            return nil
        }
        guard range.contains(value) else {
            error(s.mark, "\(field) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ field: String) -> Bool? {
        guard let s = scalar(node, field) else { return nil }
        switch (s.isPlain, s.text) {
        case (true, "true"), (true, "True"), (true, "TRUE"): return true
        case (true, "false"), (true, "False"), (true, "FALSE"): return false
        default:
            error(s.mark, "\(field) must be true or false, found '\(s.text)'")
            return nil
        }
    }

    func double(_ node: Node, _ field: String, in range: ClosedRange<Double>) -> Double? {
        guard let s = scalar(node, field) else { return nil }
        guard s.isPlain, let value = Double(s.text), value.isFinite else {
            error(s.mark, "\(field) must be a number, found '\(s.text)'")
            return nil
        }
        guard range.contains(value) else {
            error(s.mark, "\(field) must be between \(range.lowerBound) and \(range.upperBound), found \(s.text)")
            return nil
        }
        return value
    }

    func quantity(_ node: Node, _ field: String) -> Quantity? {
        guard let s = scalar(node, field) else { return nil }
        guard let q = Quantity(parsing: s.text) else {
            error(s.mark, "\(field): '\(s.text)' is not a quantity (write e.g. 512Mi, 2Gi, 20Gi)")
            return nil
        }
        return q
    }

    func duration(_ node: Node, _ field: String) -> SpecDuration? {
        guard let s = scalar(node, field) else { return nil }
        guard let d = SpecDuration(parsing: s.text) else {
            error(s.mark, "\(field): '\(s.text)' is not a duration (write e.g. 500ms, 30s, 5m)")
            return nil
        }
        return d
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ node: Node, _ field: String, as: E.Type) -> E? where E.RawValue == String {
        guard let s = scalar(node, field) else { return nil }
        guard let value = E(rawValue: s.text) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            error(s.mark, "\(field) must be one of \(allowed), found '\(s.text)'")
            return nil
        }
        return value
    }
}
