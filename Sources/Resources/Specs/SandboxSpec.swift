/// Which VMM runs a sandbox.
public enum Runtime: String, Sendable, Codable, CaseIterable {
    case cloudHypervisor = "cloud-hypervisor"
    case cuttlefish
    case qemu
}

/// The power state a user asks for.
public enum PowerState: String, Sendable, Codable, CaseIterable {
    case running, paused, stopped, suspended
}

/// Where a sandbox's first memory and disk come from; exactly one is chosen.
public enum SandboxSource: Hashable, Sendable, Codable, CustomStringConvertible {
    case image(String)
    case snapshot(String)
    case fork(String)

    public var description: String {
        switch self {
        case .image(let n): "image \(n)"  // also part of the content hash: keep stable
        case .snapshot(let n): "snapshot \(n)"
        case .fork(let n): "fork of \(n)"
        }
    }
}

/// The ceiling for in-place resize; the VM boots with room up to these.
public struct ResourceLimits: Hashable, Sendable, Codable {
    public var cpus: Int?
    public var memory: Quantity?

    public init(cpus: Int? = nil, memory: Quantity? = nil) {
        self.cpus = cpus
        self.memory = memory
    }
}

/// `kind: Sandbox` — one VM and everything it needs on the host.
public struct SandboxSpec: Hashable, Sendable, Codable {
    public var runtime: Runtime
    public var state: PowerState
    public var cpus: Int?
    public var memory: Quantity?
    public var disk: Quantity?
    public var limits: ResourceLimits?
    public var source: SandboxSource
    /// The TapPool named in `network.pool`; nil when the spec leaves it out.
    public var networkPool: String?
    /// The BalloonPolicy named in `balloon.policy`; nil = no ballooning.
    public var balloonPolicy: String?
    /// PCI addresses for VFIO passthrough.
    public var gpus: [String]
    /// `spec.snapshotCompatible: true`: a Cuttlefish device is launched so that its memory can
    /// be saved (no virtio-fs, GPU acceleration or USB), as suspend and memory snapshots need.
    /// Nil when the spec leaves it out (or says false).
    public var snapshotCompatible: Bool?

    public init(runtime: Runtime = .cloudHypervisor, state: PowerState = .running, cpus: Int? = nil, memory: Quantity? = nil,
                disk: Quantity? = nil, limits: ResourceLimits? = nil, source: SandboxSource, networkPool: String? = nil,
                balloonPolicy: String? = nil, gpus: [String] = [], snapshotCompatible: Bool? = nil) {
        self.snapshotCompatible = snapshotCompatible == true ? true : nil
        self.runtime = runtime
        self.state = state
        self.cpus = cpus
        self.memory = memory
        self.disk = disk
        self.limits = limits
        self.source = source
        self.networkPool = networkPool
        self.balloonPolicy = balloonPolicy
        self.gpus = gpus
    }
}
