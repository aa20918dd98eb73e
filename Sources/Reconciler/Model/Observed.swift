import Resources

/// What a VMM says about its VM, or that there is none.
public enum VMState: Hashable, Sendable, Codable, CustomStringConvertible {
    /// No live VMM process (never started, stopped, or it died).
    case absent
    /// The VMM lives but holds no VM, or a VM that is not booted (CH's `Created`).
    case created
    case running
    case paused
    /// The guest powered itself off.
    case shutdown
    /// The VMM process lives but does not answer on its socket.
    case unresponsive
    /// A state string this version does not know.
    case unknown(String)

    public var description: String {
        switch self {
        case .absent: "absent"
        case .created: "created"
        case .running: "running"
        case .paused: "paused"
        case .shutdown: "shutdown"
        case .unresponsive: "unresponsive"
        case .unknown(let raw): "unknown(\(raw))"
        }
    }

    /// The VMM process exists (whatever its VM does).
    public var hasProcess: Bool { self != .absent }
}

/// A process identified beyond its pid: the pid is reused, pid + start time is not.
public struct ProcessIdentity: Hashable, Sendable, Codable, CustomStringConvertible {
    public var pid: Int32
    /// Start time in clock ticks since boot (field 22 of /proc/PID/stat).
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    public var description: String { "pid \(pid)" }
}

/// One sandbox Converge owns, as found on the host.
public struct ObservedSandbox: Hashable, Sendable, Codable {
    public var name: String
    /// What it was built with (from its metadata file).
    public var config: SandboxConfig
    /// The power state Converge last put it in; a difference with `vm` is drift.
    public var intendedState: PowerState
    public var vm: VMState
    public var process: ProcessIdentity?
    /// Live size as the VMM reports it, when it runs.
    public var liveCpus: Int?
    public var liveMemory: Quantity?
    public var diskExists: Bool
    /// The network slot it holds, if any.
    public var slot: NetworkSlot?
    /// Its balloon and the guest's memory, when the VM is booted.
    public var balloon: ObservedBalloon?
    /// Why its VMM cannot be trusted although it answers: it runs outside its slot's
    /// network namespace (then `vm` is `.unresponsive`, and a pass restarts it).
    public var misplaced: String?
    /// The files its disk is built on, nearest first (qcow2 backing chain): what it needs
    /// kept, so no snapshot or fork layer under it is removed while it lives.
    public var diskChain: [String]
    /// Bytes of memory and device state saved for it (a suspended sandbox), if any.
    public var savedMemory: Quantity?
    /// What it is a clone of (`snapshot S`, `fork of P`), when restored with memory.
    public var cloneOf: String?
    /// When its VMM was last asked (not trusted from an earlier answer), and what the host
    /// looked like then (its record file, process and socket): an observation whose
    /// fingerprint still matches may be trusted until the next resync.
    public var verifiedAt: Double?
    public var fingerprint: String?
    /// The device a runtime that names its own instances gave it (Cuttlefish: group, id, ADB serial).
    public var device: DeviceInstance?

    public init(name: String, config: SandboxConfig, intendedState: PowerState, vm: VMState, process: ProcessIdentity? = nil,
                liveCpus: Int? = nil, liveMemory: Quantity? = nil, diskExists: Bool = true, slot: NetworkSlot? = nil,
                balloon: ObservedBalloon? = nil, misplaced: String? = nil, diskChain: [String] = [], savedMemory: Quantity? = nil,
                cloneOf: String? = nil, verifiedAt: Double? = nil, fingerprint: String? = nil, device: DeviceInstance? = nil) {
        self.verifiedAt = verifiedAt
        self.fingerprint = fingerprint
        self.device = device
        self.misplaced = misplaced
        self.diskChain = diskChain
        self.savedMemory = savedMemory
        self.cloneOf = cloneOf
        self.slot = slot
        self.balloon = balloon
        self.name = name
        self.config = config
        self.intendedState = intendedState
        self.vm = vm
        self.process = process
        self.liveCpus = liveCpus
        self.liveMemory = liveMemory
        self.diskExists = diskExists
    }

    /// The observed power state in the spec's terms.
    public var powerState: PowerState? {
        switch vm {
        case .running: .running
        case .paused: .paused
        case .absent: intendedState == .suspended ? .suspended : .stopped
        default: nil
        }
    }
}

/// One instance of a runtime that allocates its own (a Cuttlefish group of one device):
/// recorded beside the sandbox, so it survives restarts and the loss of the database.
public struct DeviceInstance: Hashable, Sendable, Codable {
    /// The runtime's own name for it (a cvd group).
    public var group: String
    /// The host-wide instance number, from which its ports derive.
    public var id: Int
    /// How adb reaches it (`127.0.0.1:<base port + id − 1>`).
    public var serial: String

    public init(group: String, id: Int, serial: String) {
        self.group = group
        self.id = id
        self.serial = serial
    }
}

/// A booted VM's balloon, and what its guest says it uses.
public struct ObservedBalloon: Hashable, Sendable, Codable {
    /// Memory the VM has: its boot size plus what is hot-plugged.
    public var allocated: Quantity
    /// Memory the balloon holds now (taken from the guest).
    public var size: Quantity
    /// The size last asked of the VMM; the guest's driver reaches it over time, so the
    /// plan compares against this, not `size` (nil: not known, read as `size`).
    public var target: Quantity?
    /// The guest's own use (its agent's `total − available`, less the balloon's pages when
    /// the guest counts them as allocated); nil when the guest was not asked or did not answer.
    public var guestUsed: Quantity?
    /// The memory the guest sees with an empty balloon (its `MemTotal`, balloon included):
    /// less than `allocated` by the kernel's reserve, or by memory not plugged. Nil with `guestUsed`.
    public var guestCapacity: Quantity?
    /// Why `guestUsed` is unknown although a policy wants it (no agent, a timeout, …).
    public var unavailable: String?

    public init(allocated: Quantity, size: Quantity, target: Quantity? = nil, guestUsed: Quantity? = nil,
                guestCapacity: Quantity? = nil, unavailable: String? = nil) {
        self.allocated = allocated
        self.size = size
        self.target = target
        self.guestUsed = guestUsed
        self.guestCapacity = guestCapacity
        self.unavailable = unavailable
    }
}

/// A resource whose host effect is recorded (pools and policies in this version, until
/// their drivers act on the host): the spec last applied.
public struct AppliedRecord: Hashable, Sendable, Codable {
    public var body: ResourceBody
    public init(body: ResourceBody) { self.body = body }
}

/// A TapPool as found on the host.
public struct ObservedPool: Hashable, Sendable, Codable {
    public var spec: TapPoolSpec
    public var ready: Int
    public var claimed: Int
    /// Slots with parts missing, and objects of the pool's naming no slot explains.
    public var broken: Int

    public init(spec: TapPoolSpec, ready: Int, claimed: Int = 0, broken: Int = 0) {
        self.spec = spec
        self.ready = ready
        self.claimed = claimed
        self.broken = broken
    }
}

/// A snapshot found on the host (its manifest, and what its directory holds).
public struct ObservedSnapshot: Hashable, Sendable, Codable {
    public var name: String
    public var spec: SnapshotSpec
    public var hasMemory: Bool
    /// The runtime whose saved state it holds, and the shape of the VM it was taken from
    /// (what a sandbox restored from it is built with unless its spec says otherwise).
    public var runtime: Runtime?
    public var config: SandboxConfig?
    /// Its frozen disk, and the files that disk is built on, nearest first.
    public var disk: String?
    public var diskChain: [String]
    /// Bytes its files take on disk (adopted files behind links included).
    public var sizeOnDisk: Int64
    /// Its copy in the registry, as the last transfer recorded it.
    public var registry: RegistryRecord?

    public init(name: String, spec: SnapshotSpec, hasMemory: Bool, runtime: Runtime? = nil, config: SandboxConfig? = nil,
                disk: String? = nil, diskChain: [String] = [], sizeOnDisk: Int64 = 0, registry: RegistryRecord? = nil) {
        self.registry = registry
        self.name = name
        self.spec = spec
        self.hasMemory = hasMemory
        self.runtime = runtime
        self.config = config
        self.disk = disk
        self.diskChain = diskChain
        self.sizeOnDisk = sizeOnDisk
    }
}

extension ObservedState {
    /// Who needs snapshot `name`'s disk: sandboxes and other snapshots whose disk is built on it.
    public func users(ofSnapshot name: String) -> [ResourceID] {
        guard let disk = snapshots[name]?.disk else { return [] }
        let sandboxes = self.sandboxes.values.filter { $0.diskChain.contains(disk) }.map { ResourceID(.sandbox, $0.name) }
        let others = snapshots.values.filter { $0.name != name && $0.diskChain.contains(disk) }.map { ResourceID(.snapshot, $0.name) }
        return (sandboxes + others).sorted()
    }
}

/// Everything observed in one pass.
public struct ObservedState: Sendable, Equatable {
    public var sandboxes: [String: ObservedSandbox]
    public var pools: [String: ObservedPool]
    public var policies: [String: AppliedRecord]
    public var snapshots: [String: ObservedSnapshot]
    /// Snapshots being pulled from the registry, not yet usable (shown, never planned on).
    public var pulls: [String: RegistryRecord] = [:]

    public init(sandboxes: [String: ObservedSandbox] = [:], pools: [String: ObservedPool] = [:],
                policies: [String: AppliedRecord] = [:], snapshots: [String: ObservedSnapshot] = [:]) {
        self.sandboxes = sandboxes
        self.pools = pools
        self.policies = policies
        self.snapshots = snapshots
    }

    public var isEmpty: Bool { sandboxes.isEmpty && pools.isEmpty && policies.isEmpty && snapshots.isEmpty }
    public var count: Int { sandboxes.count + pools.count + policies.count + snapshots.count }
}
