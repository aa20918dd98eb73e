/// The four kinds a spec document may declare. The order is the order resources are
/// listed and, for independent kinds, created: pools and policies before sandboxes.
public enum ResourceKind: String, Sendable, Codable, CaseIterable, Comparable {
    case tapPool = "TapPool"
    case balloonPolicy = "BalloonPolicy"
    case sandbox = "Sandbox"
    case snapshot = "Snapshot"

    /// The kind's place in that order, from 0.
    public var order: Int {
        switch self {
        case .tapPool: 0
        case .balloonPolicy: 1
        case .sandbox: 2
        case .snapshot: 3
        }
    }
    public static func < (a: ResourceKind, b: ResourceKind) -> Bool { a.order < b.order }

    /// The lowercase plural used on the command line: `converge get sandboxes`.
    public var plural: String {
        switch self {
        case .tapPool: "tappools"
        case .balloonPolicy: "balloonpolicies"
        case .sandbox: "sandboxes"
        case .snapshot: "snapshots"
        }
    }

    /// Accepts `sandbox`, `sandboxes`, `Sandbox`, `tappool`, …
    public init?(argument: String) {
        let lower = argument.lowercased()
        guard let kind = Self.allCases.first(where: { lower == $0.rawValue.lowercased() || lower == $0.plural }) else { return nil }
        self = kind
    }
}

/// A resource's identity: its kind and its name, unique within the kind.
public struct ResourceID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var kind: ResourceKind
    public var name: String

    public init(_ kind: ResourceKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public var description: String { "\(kind.rawValue)/\(name)" }

    public static func < (a: ResourceID, b: ResourceID) -> Bool { (a.kind, a.name) < (b.kind, b.name) }
}

/// Where a resource was declared: the file and the mark of its document.
public struct Origin: Hashable, Sendable, Codable, CustomStringConvertible {
    public var file: String
    public var mark: Mark

    public init(file: String, mark: Mark) {
        self.file = file
        self.mark = mark
    }

    public var description: String { "\(file):\(mark)" }
}
