/// `VmState` as `vm.info` spells it.
enum VmState: String, Sendable {
    case created = "Created"
    case running = "Running"
    case shutdown = "Shutdown"
    case paused = "Paused"
    case breakPoint = "BreakPoint"
}

/// The simulated VMM: one optional stored config and one optional booted VM, with Cloud
/// Hypervisor's state machine (cloud-hypervisor-api.md, "States").
///
/// - `vm.create` stores a config; nothing runs. `vm.info` says `Created`.
/// - `vm.boot` builds the VM (opens payload and disks, binds the vsock socket) and runs it: `Running`.
/// - `vm.shutdown` drops the VM but keeps the config: `Created` again, bootable again.
/// - `vm.delete` drops both; `vm.info` answers 404.
///
/// Not Sendable: it lives on the main thread with the server loop.
final class VirtualMachineMonitor {
    /// A built VM: its state, the open (locked) disk images and its vsock device.
    struct BootedVM {
        var state: VmState
        var disks: [FileDescriptor]
        /// The hybrid vsock listener; dropping the VM closes it.
        var vsock: VsockDevice?
        /// Numbers each guest start (boot, restore, reboot) in this process, so that vsock
        /// connections into an earlier guest can be told apart and closed.
        var guestGeneration: Int
        /// When the guest started (monotonic ms), or nil when it was restored already running.
        var guestStartedAt: Int64?
    }

    /// The stored, normalised `VmConfig`; nil before `vm.create`/`vm.restore` and after `vm.delete`.
    private(set) var config: JSONValue? { didSet { infoCache = nil } }
    /// The booted VM; nil when not booted.
    private(set) var vm: BootedVM? { didSet { infoCache = nil } }
    /// The `vm.info` body while `config` and `vm` stay as they are: it depends on nothing else,
    /// and callers poll it far more often than anything changes.
    private var infoCache: [UInt8]?
    /// Whether disk images get advisory locks.
    let lockDisks: Bool
    /// Whether `memory_restore_mode: ondemand` can work (userfaultfd available).
    let userfaultfdAvailable: Bool
    /// `CH_SIM_RESIZE_DROPS_RAM`: a booted VM accepts `desired_ram` and keeps its memory.
    var resizeDropsRAM = false
    /// The last `BootedVM.guestGeneration` handed out.
    private var lastGuestGeneration = 0

    init(lockDisks: Bool, userfaultfdAvailable: Bool) {
        self.lockDisks = lockDisks
        self.userfaultfdAvailable = userfaultfdAvailable
    }

    /// The state `vm.info` reports: the VM's, or `Created` when only a config is stored.
    var state: VmState? {
        guard config != nil else { return nil }
        return vm?.state ?? .created
    }

    // MARK: - Create and delete

    /// `vm.create`: stores the config. Maps to `PUT /api/v1/vm.create`.
    ///
    /// - Throws: 400/409 for a bad body, a state error when a config is already stored.
    func create(body: [UInt8]) throws(APIError) {
        let parsed = try ConfigValidation.vmConfig(fromBody: body)
        try create(config: parsed)
    }

    /// Stores an already validated config (also used by command-line boot).
    ///
    /// - Throws: a state error when a config is already stored.
    func create(config newConfig: JSONValue) throws(APIError) {
        guard config == nil else { throw APIError.state("Error creating VM", "VM is already created") }
        config = newConfig
    }

    /// `vm.delete`: shuts the VM down if booted and drops the config. Always succeeds.
    func delete() {
        vm = nil
        config = nil
    }

    // MARK: - Boot and power

    /// `vm.boot`: opens the payload and disks, binds the vsock socket and starts the VM.
    ///
    /// - Throws: 404 without a config; a state error when already booted; 500 when a file
    ///   cannot be opened, a disk is locked or the vsock socket cannot be bound (the VMM keeps
    ///   its config, not booted).
    func boot() throws(APIError) {
        let action = "Error booting VM"
        guard var config else { throw APIError.notCreated(action) }
        if let vm { throw APIError.state(action, vm.state == .paused ? "VM is paused" : "VM is already booted") }
        do {
            try GuestResources.checkPayload(config)
            let disks = try GuestResources.openDisks(config, lock: lockDisks)
            let vsock = try VsockDevice.open(for: config)
            assignDeviceIDs(&config)
            self.config = config
            vm = BootedVM(
                state: .running, disks: disks, vsock: vsock, guestGeneration: nextGuestGeneration(),
                guestStartedAt: monotonicMilliseconds())
        } catch {
            throw error.wrapped(action)
        }
    }

    /// `vm.pause`: Running → Paused.
    ///
    /// - Throws: 404 without a config; a state error unless Running.
    func pause() throws(APIError) {
        let action = "Error pausing VM"
        try transition(action, from: [.running], to: .paused, reason: "VM is not running")
    }

    /// `vm.resume`: Paused → Running.
    ///
    /// - Throws: 404 without a config; a state error unless Paused.
    func resume() throws(APIError) {
        try transition("Error resuming VM", from: [.paused], to: .running, reason: "VM is not paused")
    }

    /// `vm.shutdown`: drops the booted VM (releasing its disks, closing its vsock listener); the config stays.
    ///
    /// - Throws: 404 without a config; a state error when not booted.
    func shutdown() throws(APIError) {
        let action = "Error shutting down VM"
        guard config != nil else { throw APIError.notCreated(action) }
        guard vm != nil else { throw APIError.state(action, "VM is not running") }
        vm = nil
    }

    /// `vm.reboot`: a booted VM comes back Running with the same config.
    ///
    /// - Throws: 404 without a config; a state error when not booted.
    func reboot() throws(APIError) {
        let action = "Error rebooting VM"
        guard config != nil else { throw APIError.notCreated(action) }
        guard vm != nil else { throw APIError.state(action, "VM is not running") }
        restartGuest()
    }

    /// `vm.power-button`: accepted when booted; the guest reacts later (see `Server`).
    ///
    /// - Throws: 404 without a config; a state error when not booted.
    func checkPowerButton() throws(APIError) {
        let action = "Error triggering power button"
        guard config != nil else { throw APIError.notCreated(action) }
        guard vm != nil else { throw APIError.state(action, "VM is not running") }
    }

    /// The guest powered itself off and the VMM keeps running (`--no-shutdown`): the VM object is
    /// dropped as by `vm.shutdown`, so `vm.info` says `Created`.
    func guestPoweredOff() {
        vm = nil
    }

    /// The guest rebooted itself: Cloud Hypervisor rebuilds the VM from the stored config and it
    /// keeps running, so nothing observable changes.
    func guestRebooted() {
        guard vm != nil else { return }
        restartGuest()
    }

    /// A new guest runs on the same VM: its vsock connections are gone and its agent starts again.
    private func restartGuest() {
        vm?.state = .running
        vm?.guestGeneration = nextGuestGeneration()
        vm?.guestStartedAt = monotonicMilliseconds()
    }

    private func transition(_ action: String, from allowed: Set<VmState>, to target: VmState, reason: String) throws(APIError) {
        guard config != nil else { throw APIError.notCreated(action) }
        guard let current = vm?.state else { throw APIError.state(action, "VM is not booted") }
        guard allowed.contains(current) else { throw APIError.state(action, reason) }
        vm?.state = target
    }

    /// Gives disks and net devices without an `id` the names Cloud Hypervisor's device manager
    /// writes back into the config at boot: `_disk0`, `_net1`, ... from one shared counter.
    private func assignDeviceIDs(_ config: inout JSONValue) {
        var used = Set<String>()
        for list in ["disks", "net"] {
            for device in config[list]?.arrayValue ?? [] { if let id = device["id"]?.stringValue { used.insert(id) } }
        }
        var counter = 0
        for (list, prefix) in [("disks", "_disk"), ("net", "_net")] {
            guard var devices = config[list]?.arrayValue else { continue }
            for i in devices.indices where devices[i].present("id") == nil {
                while used.contains("\(prefix)\(counter)") { counter += 1 }
                devices[i]["id"] = .string("\(prefix)\(counter)")
                used.insert("\(prefix)\(counter)")
                counter += 1
            }
            config[list] = .array(devices)
        }
    }

    // MARK: - Observation

    /// `vm.info`: config, state, `memory_actual_size` and a device tree.
    ///
    /// `memory_actual_size` is boot + hotplugged memory, minus the balloon once the VM is booted.
    /// - Throws: 404 without a config.
    func info() throws(APIError) -> JSONValue {
        guard let config, let state else { throw APIError.notCreated("Error getting VM info") }
        let memory = MemoryAccounting(config: config)
        let actual = memory.configuredTotal - (vm != nil ? memory.balloon : 0)
        return .object([
            "config": config,
            "state": .string(state.rawValue),
            "memory_actual_size": .int(actual),
            "device_tree": vm != nil ? deviceTree(config) : .object([:]),
        ])
    }

    /// `info()` as the response body, kept until the config or the VM changes.
    ///
    /// - Throws: 404 without a config.
    func infoBody() throws(APIError) -> [UInt8] {
        if let infoCache { return infoCache }
        let body = JSONWriter.compact(try info())
        infoCache = body
        return body
    }

    /// `vm.counters`: zeroed per-device counters of the booted VM.
    ///
    /// - Throws: 404 without a config; a state error when not booted.
    func counters() throws(APIError) -> JSONValue {
        let action = "Error getting VM counters"
        guard let config else { throw APIError.notCreated(action) }
        guard vm != nil else { throw APIError.state(action, "VM is not running") }
        var result: [String: JSONValue] = [:]
        for disk in config["disks"]?.arrayValue ?? [] {
            guard let id = disk["id"]?.stringValue else { continue }
            result[id] = .object(["read_bytes": .int(0), "write_bytes": .int(0), "read_ops": .int(0), "write_ops": .int(0)])
        }
        for net in config["net"]?.arrayValue ?? [] {
            guard let id = net["id"]?.stringValue else { continue }
            result[id] = .object(["rx_bytes": .int(0), "rx_frames": .int(0), "tx_bytes": .int(0), "tx_frames": .int(0)])
        }
        return .object(result)
    }

    private func deviceTree(_ config: JSONValue) -> JSONValue {
        var tree: [String: JSONValue] = [:]
        var slot = 1
        for list in ["disks", "net"] {
            for device in config[list]?.arrayValue ?? [] {
                guard let id = device["id"]?.stringValue else { continue }
                slot += 1
                let bdf = "0000:00:" + (slot < 16 ? "0" : "") + String(slot, radix: 16) + ".0"
                tree[id] = .object(["id": .string(id), "resources": .array([]), "children": .array([]), "pci_bdf": .string(bdf)])
            }
        }
        return .object(tree)
    }

    // MARK: - Internal mutation for extensions

    /// Replaces the stored config (resize, restore).
    func replaceConfig(_ newConfig: JSONValue?) { config = newConfig }

    /// Installs a booted VM (restore).
    func install(_ booted: BootedVM?) { vm = booted }

    /// A fresh `BootedVM.guestGeneration`.
    func nextGuestGeneration() -> Int {
        lastGuestGeneration += 1
        return lastGuestGeneration
    }
}

@available(*, unavailable)
extension VirtualMachineMonitor: Sendable {}
