import Resources

/// What the reconciler needs from one VMM family (Cloud Hypervisor, Cuttlefish, QEMU).
///
/// Every operation is idempotent and verifies its effect before returning: `start`
/// returns once the VM is observed running, not when the VMM said "booted". Operations
/// on one sandbox are never called concurrently; different sandboxes may be.
public protocol SandboxRuntime: Sendable {
    var runtime: Runtime { get }

    /// Every sandbox of this runtime that Converge owns on the host, live or not.
    func observe() async throws -> [ObservedSandbox]

    /// Records the sandbox, makes its disk and brings it to `state`.
    /// - Parameter reuseDisk: keep an existing disk (replacement that keeps data).
    func create(_ name: String, config: SandboxConfig, state: PowerState, reuseDisk: Bool, journal: StepJournal) async throws

    /// Brings an existing sandbox to `state` (start, stop, pause, resume, suspend).
    func transition(_ name: String, to state: PowerState, journal: StepJournal) async throws

    /// Changes vCPUs and memory of a live VM to `config`'s, within its boot-time ceilings,
    /// and records `config`.
    func resize(_ name: String, config: SandboxConfig, journal: StepJournal) async throws

    /// Rewrites the recorded config of a sandbox whose VM does not run (applies at next start).
    func update(_ name: String, config: SandboxConfig, journal: StepJournal) async throws

    /// Grows the disk's virtual size (never shrinks).
    func growDisk(_ name: String, to size: Quantity, journal: StepJournal) async throws

    /// Stops the VMM and removes what Converge made for the sandbox; `keepDisk` keeps its
    /// disk and record for a replacement. Destroying an absent sandbox succeeds.
    func destroy(_ name: String, keepDisk: Bool, journal: StepJournal) async throws
}

/// Host effects of TapPools. This version records pools; the namespace, TAP and NAT
/// driver plugs in here without a change to the planner.
public protocol HostNetwork: Sendable {
    func observePools() async throws -> [String: AppliedRecord]
    func ensurePool(_ name: String, spec: TapPoolSpec, journal: StepJournal) async throws
    func removePool(_ name: String, journal: StepJournal) async throws
}

/// Snapshots on the host: warm (memory + disk) or disk-only.
public protocol SnapshotDriver: Sendable {
    func observe() async throws -> [String: ObservedSnapshot]
    func take(_ name: String, spec: SnapshotSpec, journal: StepJournal) async throws
    func remove(_ name: String, journal: StepJournal) async throws
}

/// Records each step of an action before it runs and its outcome after, so a crash
/// always leaves a trace of what was under way.
public protocol StepJournal: Sendable {
    /// Runs `body` as the step `name` (a stable dotted name, e.g. `ch.vm.boot`).
    func step<T: Sendable>(_ name: String, _ body: () async throws -> T) async throws -> T
}
