/// `kind: Snapshot` — a warm (memory + disk) or disk-only capture, immutable once taken.
public struct SnapshotSpec: Hashable, Sendable, Codable {
    public enum Source: Hashable, Sendable, Codable {
        case sandbox(String)
        case path(String)
    }

    public var source: Source
    public var memory: Bool

    public init(source: Source, memory: Bool = true) {
        self.source = source
        self.memory = memory
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
