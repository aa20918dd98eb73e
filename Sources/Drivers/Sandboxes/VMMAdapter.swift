import Reconciler
import Resources

/// A VMM as it is now: what its own API says, beside the process Converge recorded.
public struct LiveVM: Sendable {
    public var state: VMState
    public var process: ProcessIdentity?
    public var cpus: Int?
    public var memory: Quantity?
    public var balloon: ObservedBalloon?
    /// Why a VMM that answers cannot be trusted (it runs outside its slot's namespace).
    public var misplaced: String?

    public init(state: VMState, process: ProcessIdentity? = nil, cpus: Int? = nil, memory: Quantity? = nil,
                balloon: ObservedBalloon? = nil, misplaced: String? = nil) {
        self.state = state
        self.process = process
        self.cpus = cpus
        self.memory = memory
        self.balloon = balloon
        self.misplaced = misplaced
    }
}

/// What is specific to one VMM: how to start it, drive its VM through its API, read its
/// state and stop it, and which of its steps it journals. Everything every runtime shares
/// (record → slot → disk → VMM → verify, and back) is `SandboxLifecycle`, written once.
///
/// Each operation journals its own steps and is idempotent; the lifecycle never calls two
/// on one sandbox at once.
public protocol VMMAdapter: Sendable {
    var runtime: Runtime { get }
    /// What this VMM can change on a live VM.
    var capabilities: RuntimeCapabilities { get }
    /// The first word of its steps' names (`ch`, `qemu`), also used in its failures.
    var stepPrefix: String { get }
    /// Its step that verifies a VM reached a state ("booted" is not "running").
    var verifyStep: JournalStep { get }

    /// What this host lacks to run the VMM at all (binary, kernel), one sentence each.
    func missingParts() -> [String]
    /// Why `name` cannot be used by this VMM on this host (e.g. a socket path too long).
    func checkName(_ name: String, layout: SandboxLayout) throws

    /// The VMM's pid as it reports it itself: for a crash between spawning it and
    /// recording its pid. Nil when nothing answers on the record's socket.
    func identify(_ record: SandboxRecord) async -> ProcessIdentity?
    /// The VM as the live VMM `process` says it is (state, size, balloon).
    func live(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> LiveVM
    /// Only the VM's state, for deciding a transition and verifying it: one question
    /// instead of all of `live`.
    func state(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> VMState

    /// Starts a fresh VMM for the sandbox (in its slot's namespace when it has one) and
    /// returns once its API answers. The VM is not booted yet.
    /// - Parameter incoming: the VMM is to receive saved state (`restore`), not boot.
    func spawn(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, incoming: Bool, journal: StepJournal) async throws -> ProcessIdentity
    /// Builds and boots the VM on the live VMM.
    func boot(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, journal: StepJournal) async throws
    func pause(_ record: SandboxRecord, journal: StepJournal) async throws
    func resume(_ record: SandboxRecord, journal: StepJournal) async throws
    /// Stops the guest and the VMM; returns once `process` is gone, and its sockets with it.
    func stop(_ name: String, _ record: SandboxRecord, process: ProcessIdentity?, layout: SandboxLayout, journal: StepJournal) async throws
    /// Changes vCPUs and memory of the booted VM within what `capabilities` allow, and
    /// verifies the VM reports them.
    func resize(_ name: String, _ record: SandboxRecord, to config: SandboxConfig, journal: StepJournal) async throws
    /// Sets the balloon and verifies the VMM recorded the target.
    func setBalloon(_ name: String, _ record: SandboxRecord, to size: Quantity, journal: StepJournal) async throws
    // MARK: Memory state

    /// The files its saved state consists of, by name within the state directory.
    var stateFiles: [String] { get }
    /// The shape of the VM whose saved state `directory` holds, if the state says it.
    func savedShape(in directory: String) -> SandboxConfig?
    /// Why this VM's state cannot be saved and restored as it is (nil when it can).
    func saveRefusal(_ record: SandboxRecord) -> String?
    /// Writes the paused VM's memory and device state into `directory` (existing, empty).
    func saveState(_ name: String, _ record: SandboxRecord, into directory: String, layout: SandboxLayout, journal: StepJournal) async throws
    /// Loads state saved by `saveState` (this sandbox's, a snapshot's or a fork parent's)
    /// into a VMM spawned `incoming`, pointed at this sandbox's own disk and files. The
    /// VM is left paused.
    func restore(_ name: String, _ record: SandboxRecord, from directory: String, layout: SandboxLayout, journal: StepJournal) async throws

    /// The last lines of the VMM's log, to show with a failure ("" when there is none).
    func logTail(_ name: String, layout: SandboxLayout) -> String

    // MARK: Runtimes that allocate their own instances (defaults below do nothing)

    /// Reads once what observing every sandbox needs (Cuttlefish: one `cvd fleet` for all);
    /// `live` may use it until the next call.
    func beginObservation() async
    /// The instance the VMM allocated for the sandbox, to record beside it (nil: none).
    func device(_ name: String, _ record: SandboxRecord) async -> DeviceInstance?
}

/// A VMM that allocates and keeps its own instances and disks (Cuttlefish's cvd owns
/// each device's processes, disks and TAPs). The lifecycle then makes no qcow2 overlay and
/// claims no slot for it, asks it whether the disks still exist, and leaves their removal
/// to it. Defaults: a VMM whose disk is the lifecycle's overlay.
public protocol DiskOwningVMM {
    /// Makes the sandbox's device and disks without starting it (a sandbox created stopped).
    func makeDisks(_ name: String, _ record: SandboxRecord, journal: StepJournal) async throws
    /// The disks the VMM made for the sandbox still exist (its device can start again).
    func hasDisks(_ name: String, _ record: SandboxRecord) async -> Bool
    /// Removes the sandbox's device and disks, and what the VMM left of it on the host;
    /// called once its VMM is stopped. Removing an absent device succeeds.
    func removeDisks(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, journal: StepJournal) async throws
    /// What `config.source` builds the device from (an artifacts or snapshot directory).
    /// - Throws: `StepFailure` saying what is missing.
    func source(of config: SandboxConfig, snapshots: String) throws -> String
    /// Freezes the device's disks into `directory` for a disk-only Snapshot.
    func copyDisks(_ name: String, _ record: SandboxRecord, into directory: String, journal: StepJournal) async throws
}

extension VMMAdapter {
    public func beginObservation() async {}
    public func device(_ name: String, _ record: SandboxRecord) async -> DeviceInstance? { nil }
}
