import Reconciler
import Resources

/// An in-memory `SandboxRuntime`: a fake world where every operation takes effect at
/// once. Records calls for order assertions and can fail a call once.
public actor FakeRuntime: SandboxRuntime {
    public nonisolated let runtime: Runtime
    public nonisolated let capabilities: RuntimeCapabilities
    public private(set) var sandboxes: [String: ObservedSandbox]
    public private(set) var calls: [String] = []
    private var failures: [String: any Error] = [:]
    private var probe: (@Sendable (String) async -> Void)?

    public init(runtime: Runtime = .cloudHypervisor, capabilities: RuntimeCapabilities = .all, sandboxes: [ObservedSandbox] = []) {
        self.runtime = runtime
        self.capabilities = capabilities
        self.sandboxes = Dictionary(uniqueKeysWithValues: sandboxes.map { ($0.name, $0) })
    }

    /// Makes the next call named `call` (e.g. `"create web-1"`) throw `error`.
    public func fail(_ call: String, with error: any Error = FakeFailure(call: "injected")) {
        failures[call] = error
    }

    /// Runs `probe` with the call's name at the moment a journaled call takes effect, inside
    /// its journal step: a test can look at the store's journal from the driver's side.
    public func onEffect(_ probe: @escaping @Sendable (String) async -> Void) {
        self.probe = probe
    }

    /// Simulates the VMM dying behind Converge's back.
    public func kill(_ name: String) {
        sandboxes[name]?.vm = .absent
        sandboxes[name]?.process = nil
    }

    private func record(_ call: String) throws {
        calls.append(call)
        if let error = failures.removeValue(forKey: call) { throw error }
    }

    /// Images this fake host lacks: `preflight` reports them, `create` fails on them.
    public private(set) var missingImages: Set<String> = []

    public func removeImage(_ image: String) { missingImages.insert(image) }

    public func preflight(_ name: String, config: SandboxConfig) -> [String] {
        guard case .image(let image) = config.source, missingImages.contains(image) else { return [] }
        return ["base image '\(image)' not found"]
    }

    /// Paths a crash left behind in this fake host; `removeLeftovers` clears them.
    public private(set) var leftoverPaths: [String] = []
    public func leaveBehind(_ path: String) { leftoverPaths.append(path) }
    public func leftovers() -> [String] { leftoverPaths }
    public func removeLeftovers() { leftoverPaths = [] }

    public nonisolated var stateFiles: [String] { [] }
    public nonisolated func savedShape(in directory: String) -> SandboxConfig? { nil }

    /// A capture records the call and changes nothing else in this fake world.
    public func capture(_ name: String, into directory: String, memory: Bool, journal: StepJournal) throws -> CapturedSandbox? {
        guard let sandbox = sandboxes[name] else { return nil }
        try record("capture \(name)")
        return CapturedSandbox(runtime: runtime, config: sandbox.config, hasMemory: memory, mac: nil)
    }

    public func observe() throws -> [ObservedSandbox] {
        Array(sandboxes.values).sorted { $0.name < $1.name }
    }

    public func create(_ name: String, config: SandboxConfig, state: PowerState, reuseDisk: Bool, journal: StepJournal) async throws {
        // The whole effect is one journaled step, as in a real driver: an injected failure
        // is that step's failure.
        try await journal.step(.sandboxRecord) {
            await probe?("create \(name)")
            try record("create \(name)")
            if let missing = preflight(name, config: config).first { throw FakeFailure(call: missing) }
            sandboxes[name] = ObservedSandbox(name: name, config: config, intendedState: state, vm: Self.vm(for: state),
                                              process: state == .stopped ? nil : ProcessIdentity(pid: 1000, startTime: 1))
        }
    }

    public func transition(_ name: String, to state: PowerState, journal: StepJournal) throws {
        try record("\(state.rawValue) \(name)")
        guard sandboxes[name] != nil else { throw FakeFailure(call: "no sandbox \(name)") }
        sandboxes[name]!.vm = Self.vm(for: state)
        sandboxes[name]!.intendedState = state
    }

    public func resize(_ name: String, config: SandboxConfig, journal: StepJournal) throws {
        try record("resize \(name)")
        sandboxes[name]?.config = config
    }

    public func setBalloon(_ name: String, to size: Quantity, journal: StepJournal) throws {
        try record("balloon \(name)")
        sandboxes[name]?.balloon?.size = size
    }

    /// Gives a running sandbox a balloon of `size` and a guest that uses `used` (nil: no agent answers).
    public func setGuest(_ name: String, used: Quantity?, balloon size: Quantity = Quantity(bytes: 0)) {
        guard let sandbox = sandboxes[name] else { return }
        sandboxes[name]!.balloon = ObservedBalloon(allocated: sandbox.config.memory, size: size, guestUsed: used,
                                                   unavailable: used == nil ? "no agent" : nil)
    }

    public func update(_ name: String, config: SandboxConfig, journal: StepJournal) throws {
        try record("update \(name)")
        sandboxes[name]?.config = config
    }

    public func growDisk(_ name: String, to size: Quantity, journal: StepJournal) throws {
        try record("grow-disk \(name)")
        sandboxes[name]?.config.disk = size
    }

    public func destroy(_ name: String, keepDisk: Bool, journal: StepJournal) throws {
        try record("destroy \(name)")
        if keepDisk { sandboxes[name]?.vm = .absent } else { sandboxes[name] = nil }
    }

    static func vm(for state: PowerState) -> VMState {
        switch state {
        case .running: .running
        case .paused: .paused
        case .stopped, .suspended: .absent
        }
    }
}

/// The error a fake throws when told to.
public struct FakeFailure: Error, Sendable, CustomStringConvertible {
    public var call: String
    public init(call: String) { self.call = call }
    public var description: String { "fake failure: \(call)" }
}

/// An in-memory `HostNetwork`.
public actor FakeNetwork: HostNetwork {
    public private(set) var pools: [String: ObservedPool] = [:]
    public private(set) var claims: [String: NetworkSlot] = [:]
    public init() {}
    public func observePools() -> [String: ObservedPool] { pools }
    public func ensurePool(_ name: String, spec: TapPoolSpec, journal: StepJournal) {
        let claimed = claims.values.filter { $0.pool == name }.count
        pools[name] = ObservedPool(spec: spec, ready: spec.size, claimed: claimed)
    }
    public func removePool(_ name: String, journal: StepJournal) { pools[name] = nil }
    public func claim(pool: String, for sandbox: String, journal: StepJournal) throws -> NetworkSlot {
        if let slot = claims[sandbox] { return slot }
        guard pools[pool] != nil else { throw FakeFailure(call: "no pool \(pool)") }
        let slot = NetworkSlot(pool: pool, index: claims.count, namespace: "fake-\(pool)-\(claims.count)", tap: "tap0",
                               guestAddress: "192.168.0.2", guestGateway: "192.168.0.1/24", slotAddress: "10.0.0.2")
        claims[sandbox] = slot
        pools[pool]?.ready -= 1
        pools[pool]?.claimed += 1
        return slot
    }
    public func release(sandbox: String, journal: StepJournal) {
        guard let slot = claims.removeValue(forKey: sandbox) else { return }
        pools[slot.pool]?.claimed -= 1
    }
    /// Simulates parts of slots deleted by hand.
    public func breakSlots(_ pool: String, _ n: Int) { pools[pool]?.broken += n; pools[pool]?.ready -= n }
}

/// An in-memory `SnapshotDriver`.
public actor FakeSnapshots: SnapshotDriver {
    public private(set) var snapshots: [String: ObservedSnapshot] = [:]
    public init() {}
    public func observe() -> [String: ObservedSnapshot] { snapshots }
    public func take(_ name: String, spec: SnapshotSpec, journal: StepJournal) {
        snapshots[name] = ObservedSnapshot(name: name, spec: spec, hasMemory: spec.memory)
    }
    public func remove(_ name: String, journal: StepJournal) { snapshots[name] = nil }
}
