import Resources

/// What the reconciler needs from one VMM family (Cloud Hypervisor, Cuttlefish, QEMU).
///
/// Every operation is idempotent and verifies its effect before returning: `start`
/// returns once the VM is observed running, not when the VMM said "booted". Operations
/// on one sandbox are never called concurrently; different sandboxes may be.
public protocol SandboxRuntime: Sendable {
    var runtime: Runtime { get }
    /// What this runtime can change on a live VM; the planner asks, never assumes.
    var capabilities: RuntimeCapabilities { get }

    /// Every sandbox of this runtime that Converge owns on the host, live or not.
    func observe() async throws -> [ObservedSandbox]
    /// The same, trusting the `known` observations whose fingerprint still matches the host
    /// (the VMM is not asked again), like the kubelet's relist: cheap checks every pass,
    /// every VMM asked at each resync (the caller leaves out what is due).
    func observe(trusting known: [String: ObservedSandbox]) async throws -> [ObservedSandbox]

    /// What this host lacks to build `config` (its VMM binary, kernel, image, …), one
    /// sentence each saying what to do; empty when nothing is missing. Asked before a
    /// replacement destroys anything and before a create records anything.
    func preflight(_ name: String, config: SandboxConfig) async -> [String]

    /// Files of this runtime's naming that belong to no sandbox (an empty sandbox directory
    /// a crash left), as paths. Observation reports them and changes nothing; `apply`
    /// removes them with `removeLeftovers`, under the state directory's lock.
    func leftovers() async -> [String]
    func removeLeftovers() async throws

    /// Records the sandbox, makes its disk and brings it to `state`.
    /// - Parameter reuseDisk: keep an existing disk (replacement that keeps data).
    func create(_ name: String, config: SandboxConfig, state: PowerState, reuseDisk: Bool, journal: StepJournal) async throws

    /// Brings an existing sandbox to `state` (start, stop, pause, resume, suspend).
    func transition(_ name: String, to state: PowerState, journal: StepJournal) async throws

    /// Changes vCPUs and memory of a live VM to `config`'s, within its boot-time ceilings,
    /// and records `config`.
    func resize(_ name: String, config: SandboxConfig, journal: StepJournal) async throws

    /// Sets the balloon of a running VM to `size` (memory taken from the guest; zero gives
    /// it all back) and verifies the VM's actual memory afterwards.
    func setBalloon(_ name: String, to size: Quantity, journal: StepJournal) async throws

    /// Rewrites the recorded config of a sandbox whose VM does not run (applies at next start).
    func update(_ name: String, config: SandboxConfig, journal: StepJournal) async throws

    /// Grows the disk's virtual size (never shrinks).
    func growDisk(_ name: String, to size: Quantity, journal: StepJournal) async throws

    /// Stops the VMM and removes what Converge made for the sandbox; `keepDisk` keeps its
    /// disk and record for a replacement. Destroying an absent sandbox succeeds.
    func destroy(_ name: String, keepDisk: Bool, journal: StepJournal) async throws

    /// Captures sandbox `name` into `directory` for a Snapshot: its memory and device state
    /// when `memory` (the VM is paused while it is written), and its disk frozen as
    /// `directory/disk.qcow2`, the sandbox moving on to an overlay on it. The sandbox ends
    /// in the power state it had. Nil when `name` is not a sandbox of this runtime.
    func capture(_ name: String, into directory: String, memory: Bool, journal: StepJournal) async throws -> CapturedSandbox?
    /// The names of the files this runtime's saved state consists of (to recognise an
    /// adopted snapshot directory).
    var stateFiles: [String] { get }
    /// The shape of the VM whose state `directory` holds, when the state says it itself
    /// (CH's config.json does; nil otherwise).
    func savedShape(in directory: String) -> SandboxConfig?
}

/// What a capture saved: the VM's shape (what a restore rebuilds) and whether memory came too.
public struct CapturedSandbox: Sendable, Codable, Equatable {
    public var runtime: Runtime
    public var config: SandboxConfig
    public var hasMemory: Bool
    /// The guest's network identity inside its slot (the same in every slot).
    public var mac: String?

    public init(runtime: Runtime, config: SandboxConfig, hasMemory: Bool, mac: String?) {
        self.runtime = runtime
        self.config = config
        self.hasMemory = hasMemory
        self.mac = mac
    }
}

/// Host effects of TapPools: pre-created network slots (namespace + veth + TAP + NAT) and
/// their claims by sandboxes. Implementations serialize claims and refills of one pool.
public protocol HostNetwork: Sendable {
    /// Every pool with its applied spec and how many of its slots are ready, claimed or broken.
    func observePools() async throws -> [String: ObservedPool]
    /// The same, trusting a pool's last inspection of its host objects for `seconds` while
    /// its slot records are unchanged (0: inspect every slot again).
    func observePools(trustingFor seconds: Double) async throws -> [String: ObservedPool]
    /// Brings the pool to `spec`: ready slots up to `size` (idle extra ones removed), broken
    /// slots repaired, orphans of its naming removed, NAT rules in place.
    func ensurePool(_ name: String, spec: TapPoolSpec, journal: StepJournal) async throws
    /// Removes every slot of the pool and its rules; claimed slots are refused.
    func removePool(_ name: String, journal: StepJournal) async throws
    /// Claims a ready slot of `pool` for `sandbox` (idempotent: a sandbox keeps its slot).
    func claim(pool: String, for sandbox: String, journal: StepJournal) async throws -> NetworkSlot
    /// Releases the slot of `sandbox`, scrubbed (destroyed; the pool is refilled later).
    func release(sandbox: String, journal: StepJournal) async throws
}

/// The network identity a sandbox gets from its slot. Inside every slot the guest sees the
/// same TAP name, gateway and address; only the namespace and the host side differ.
public struct NetworkSlot: Hashable, Sendable, Codable {
    public var pool: String
    public var index: Int
    /// The namespace's name under /run/netns.
    public var namespace: String
    public var tap: String
    public var guestAddress: String
    public var guestGateway: String
    /// The address the host reaches the guest at (translated to the guest inside the slot).
    public var slotAddress: String

    public init(pool: String, index: Int, namespace: String, tap: String, guestAddress: String, guestGateway: String, slotAddress: String) {
        self.pool = pool
        self.index = index
        self.namespace = namespace
        self.tap = tap
        self.guestAddress = guestAddress
        self.guestGateway = guestGateway
        self.slotAddress = slotAddress
    }
}

extension StepJournal {
    /// Runs `body` as the step `name`, in the caller's isolation.
    public func step<T: Sendable>(_ name: JournalStep, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        try await step(name, isolation: isolation, body)
    }
}

/// Snapshots on the host: warm (memory + disk) or disk-only.
public protocol SnapshotDriver: Sendable {
    func observe() async throws -> [String: ObservedSnapshot]
    /// Snapshots being pulled from the registry, with their progress.
    func observePulls() async -> [String: RegistryRecord]
    func take(_ name: String, spec: SnapshotSpec, journal: StepJournal) async throws
    /// Pushes a taken snapshot to the registry as `settings` say (or records them when it is there).
    func push(_ name: String, settings: RegistrySettings, journal: StepJournal) async throws
    func remove(_ name: String, journal: StepJournal) async throws
}

extension SnapshotDriver {
    public func observePulls() async -> [String: RegistryRecord] { [:] }
    public func push(_ name: String, settings: RegistrySettings, journal: StepJournal) async throws {
        throw StepFailure(step: "registry.push", message: "this host has no snapshot registry")
    }
}

/// Records each step of an action before it runs and its outcome after, so a crash
/// always leaves a trace of what was under way.
public protocol StepJournal: Sendable {
    /// Runs `body` as the step `name` (stored by its stable dotted name, e.g. `ch.vm.boot`).
    /// It runs in the caller's isolation, so an actor may journal steps that touch its state.
    func step<T: Sendable>(_ name: JournalStep, isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T
    /// Records what a step measured or chose for the user (a restore's time, a fork's
    /// downtime, a fallback), as an event of the action's resource.
    func note(_ reason: String, _ message: String) async
}

extension SandboxRuntime {
    /// A runtime without a cheap check asks every VMM every pass.
    public func observe(trusting known: [String: ObservedSandbox]) async throws -> [ObservedSandbox] {
        try await observe()
    }
}

extension StepJournal {
    public func note(_ reason: String, _ message: String) async {}
}

extension HostNetwork {
    public func observePools(trustingFor seconds: Double) async throws -> [String: ObservedPool] { try await observePools() }
}
