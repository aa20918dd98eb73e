/// The kind-specific part of a resource. Indirect: a spec is a few hundred bytes, and plans
/// and spec sets copy resources and actions by the ten thousand; a box makes a copy a retain.
public indirect enum ResourceBody: Hashable, Sendable, Codable {
    case sandbox(SandboxSpec)
    case snapshot(SnapshotSpec)
    case tapPool(TapPoolSpec)
    case balloonPolicy(BalloonPolicySpec)

    public var kind: ResourceKind {
        switch self {
        case .sandbox: .sandbox
        case .snapshot: .snapshot
        case .tapPool: .tapPool
        case .balloonPolicy: .balloonPolicy
        }
    }
}

/// One validated document of a spec directory.
public struct Resource: Hashable, Sendable, Codable {
    public var name: String
    public var labels: [String: String]
    public var body: ResourceBody
    public var origin: Origin

    public init(name: String, labels: [String: String] = [:], body: ResourceBody, origin: Origin) {
        self.name = name
        self.labels = labels
        self.body = body
        self.origin = origin
    }

    public var id: ResourceID { ResourceID(body.kind, name) }

    public var sandbox: SandboxSpec? { if case .sandbox(let s) = body { s } else { nil } }
    public var snapshot: SnapshotSpec? { if case .snapshot(let s) = body { s } else { nil } }
    public var tapPool: TapPoolSpec? { if case .tapPool(let s) = body { s } else { nil } }
    public var balloonPolicy: BalloonPolicySpec? { if case .balloonPolicy(let s) = body { s } else { nil } }

    /// A stable fingerprint of what the user declared (labels and spec, not the file
    /// position): equal fingerprints mean nothing to converge.
    public var contentHash: String {
        var hasher = FNV1a()
        hasher.add(body.canonical)
        for key in labels.keys.sorted() { hasher.add("\(key)=\(labels[key]!)") }
        return hasher.hex
    }
}

/// 64-bit FNV-1a: a small, deterministic, dependency-free content fingerprint
/// (not a security boundary). Also derives stable names and MAC addresses from names.
public struct FNV1a: Sendable {
    public private(set) var state: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// The hash of `text` alone (without the separator `add` appends).
    public static func hash(_ text: String) -> UInt64 {
        var h = FNV1a()
        for byte in text.utf8 {
            h.state ^= UInt64(byte)
            h.state = h.state &* 0x100_0000_01b3
        }
        return h.state
    }

    public mutating func add(_ text: String) {
        for byte in text.utf8 {
            state ^= UInt64(byte)
            state = state &* 0x100_0000_01b3
        }
        state ^= 0xff
        state = state &* 0x100_0000_01b3
    }

    public var hex: String {
        let s = String(state, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension ResourceBody {
    /// Every field, in a fixed order: the input of `contentHash`. Written by hand because
    /// reflection (`String(describing:)`) is slow and its format is not a contract.
    var canonical: String {
        func q(_ v: Quantity?) -> String { v.map { "\($0.bytes)" } ?? "-" }
        switch self {
        case .sandbox(let s):
            return ["sandbox", s.runtime.rawValue, s.state.rawValue, s.cpus.map(String.init) ?? "-", q(s.memory), q(s.disk),
                    s.limits?.cpus.map(String.init) ?? "-", q(s.limits?.memory), s.limits == nil ? "nolimits" : "limits",
                    "\(s.source)", s.networkPool ?? "-", s.balloonPolicy ?? "-", s.gpus.joined(separator: ",")].joined(separator: "|")
        case .snapshot(let s):
            let registry = s.registry.map { "\($0.push)|\($0.prune)|\($0.org)" } ?? "-"
            return ["snapshot", "\(s.source)", "\(s.memory)", registry].joined(separator: "|")
        case .tapPool(let p):
            return ["tappool", "\(p.size)", "\(p.subnet)", "\(p.guestGateway)", "\(p.guestAddress)", "\(p.nat)"].joined(separator: "|")
        case .balloonPolicy(let b):
            return ["balloon", "\(b.interval.milliseconds)", q(b.minVM), q(b.buffer), "\(b.bufferRatio)"].joined(separator: "|")
        }
    }
}
