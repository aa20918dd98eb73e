/// One node of a parsed YAML document. Every node keeps the `Mark` where it starts,
/// so that any later error can point at the exact spot in the file.
public enum Node: Sendable, Equatable {
    case scalar(Scalar)
    case mapping([Pair], Mark)
    case sequence([Node], Mark)

    /// A scalar keeps its text and whether it was quoted: a quoted `"2"` is a string,
    /// a plain `2` may be a number.
    public struct Scalar: Sendable, Equatable {
        public var text: String
        public var mark: Mark
        public var isPlain: Bool

        public init(text: String, mark: Mark, isPlain: Bool) {
            self.text = text
            self.mark = mark
            self.isPlain = isPlain
        }

        /// `~`, `null`, or an empty plain scalar: YAML's null.
        public var isNull: Bool {
            guard isPlain else { return false }
            // By length first: every field read asks, and most values are not null.
            switch text.utf8.count {
            case 0: return true
            case 1: return text == "~"
            case 4: return text == "null" || text == "Null" || text == "NULL"
            default: return false
            }
        }
    }

    /// A key (always a scalar: specs have no complex keys) and its value.
    public struct Pair: Sendable, Equatable {
        public var key: Scalar
        public var value: Node
    }

    public var mark: Mark {
        switch self {
        case .scalar(let s): s.mark
        case .mapping(_, let m), .sequence(_, let m): m
        }
    }

    /// A short name of the node's shape, for "expected a mapping, found a sequence".
    public var shapeName: String {
        switch self {
        case .scalar(let s): s.isNull ? "null" : "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a sequence"
        }
    }
}

/// One `---`-separated document of a file.
public struct Document: Sendable {
    public var root: Node
    public var index: Int
}
