/// `kind: Snapshot` — a VM's saved state and frozen disk, captured once from a sandbox,
/// adopted from a directory, or pulled from the snapshot registry.
public struct SnapshotSpec: Hashable, Sendable, Codable {
    public enum Source: Hashable, Sendable, Codable, CustomStringConvertible {
        case sandbox(String)
        case path(String)
        /// `ORG/NAME` in the registry (`{bucket}/{org}/{name}/`), pulled when absent here.
        case registry(String)

        public var description: String {
            switch self {
            case .sandbox(let s): "sandbox \(s)"
            case .path(let p): "path \(p)"
            case .registry(let r): "registry \(r)"
            }
        }
    }

    public var source: Source
    public var memory: Bool
    /// Where the snapshot goes in the registry; not part of what the snapshot is (a
    /// change here never retakes it).
    public var registry: RegistrySettings?

    public init(source: Source, memory: Bool = true, registry: RegistrySettings? = nil) {
        self.source = source
        self.memory = memory
        self.registry = registry
    }

    /// What the snapshot is, without where it is published: a change of this retakes it.
    public var identity: SnapshotSpec { SnapshotSpec(source: source, memory: memory) }
}

/// `spec.registry` of a Snapshot: push it after capture under `{bucket}/{org}/{name}/`,
/// and delete the remote copy with the Snapshot when `prune` is set.
public struct RegistrySettings: Hashable, Sendable, Codable {
    public var push: Bool
    public var prune: Bool
    /// `spec.registry.org`, else the label `org`, else `default`.
    public var org: String

    public init(push: Bool = false, prune: Bool = false, org: String = "default") {
        self.push = push
        self.prune = prune
        self.org = org
    }
}

/// `kind: TapPool` — pre-created network slots (netns + veth + TAP) with NAT.
public struct TapPoolSpec: Hashable, Sendable, Codable {
    public var size: Int
    public var subnet: IPv4CIDR
    public var guestGateway: IPv4CIDR
    public var guestAddress: IPv4Address
    public var nat: Bool

    public init(size: Int, subnet: IPv4CIDR, guestGateway: IPv4CIDR, guestAddress: IPv4Address, nat: Bool = true) {
        self.size = size
        self.subnet = subnet
        self.guestGateway = guestGateway
        self.guestAddress = guestAddress
        self.nat = nat
    }
}

/// `kind: BalloonPolicy` — how much guest memory a balloon may reclaim:
/// target = max(used × (1 + bufferRatio), minVM) + buffer; balloon = allocated − target.
public struct BalloonPolicySpec: Hashable, Sendable, Codable {
    public var interval: SpecDuration
    public var minVM: Quantity
    public var buffer: Quantity
    public var bufferRatio: Double

    public init(interval: SpecDuration = .seconds(30), minVM: Quantity = .gibibytes(1), buffer: Quantity = .gibibytes(2), bufferRatio: Double = 0.25) {
        self.interval = interval
        self.minVM = minVM
        self.buffer = buffer
        self.bufferRatio = bufferRatio
    }

    /// The balloon size for a guest of `allocated` bytes that uses `used` bytes (never negative).
    public func balloon(allocated: Quantity, used: Quantity) -> Quantity {
        let target = max(Double(used.bytes) * (1 + bufferRatio), Double(minVM.bytes)) + Double(buffer.bytes)
        return Quantity(bytes: max(0, allocated.bytes - Int64(target.rounded(.up))))
    }
}
