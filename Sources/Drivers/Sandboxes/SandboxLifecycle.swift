import Foundation
import Glibc
import Reconciler
import Resources

/// The lifecycle every runtime shares, written once: record → slot → disk → VMM → verify,
/// and its reverse. The VMM-specific part is `vmm`; this type owns the sandbox record,
/// the network slot, the qcow2 overlay and the order of their steps.
public struct SandboxLifecycle<VMM: VMMAdapter>: SandboxRuntime {
    public var vmm: VMM
    public let layout: SandboxLayout
    public let images: ImageResolver
    let disks: QemuImg
    /// Where sandboxes with `network.pool` get their slot; nil runs VMMs without networking.
    public var network: (any HostNetwork)?
    /// Handles on the VMM processes, held by a long-lived reconciler (`converge run`) so
    /// that a pass between resyncs checks them all at once; nil reads /proc for each.
    public var processes: ProcessHandles?

    public init(vmm: VMM, layout: SandboxLayout, images: ImageResolver, disks: QemuImg, network: (any HostNetwork)? = nil) {
        self.vmm = vmm
        self.layout = layout
        self.images = images
        self.disks = disks
        self.network = network
    }

    public var runtime: Runtime { vmm.runtime }
    public var capabilities: RuntimeCapabilities { vmm.capabilities }

    // MARK: - Create

    public func create(_ name: String, config: SandboxConfig, state: PowerState, reuseDisk: Bool, journal: StepJournal) async throws {
        let owner = vmm as? any DiskOwningVMM
        let existing = SandboxRecord.read(layout.metadata(name))
        var keptDisk = reuseDisk && FileManager.default.fileExists(atPath: layout.disk(name))
        if let owner, let existing, reuseDisk { keptDisk = await owner.hasDisks(name, existing) }
        if case .fork(let parent) = config.source, !keptDisk {
            return try await createFork(name, config: config, state: state, parent: parent, journal: journal)
        }
        guard let base = try baseImage(of: config) else {
            throw StepFailure(step: "sandbox.source", message: "sandbox \(name) has no disk to keep and no image to build one from")
        }
        try vmm.checkName(name, layout: layout)
        // Memory comes back only onto the disk it was saved with: a fresh overlay on the snapshot's.
        let restore = keptDisk ? nil : warmSnapshot(of: config)
        try await journal.step(.sandboxRecord) {
            try FileManager.default.createDirectory(atPath: layout.directory(name), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: layout.socketsDirectory, withIntermediateDirectories: true)
            var record = SandboxRecord(name: name, config: restore?.config ?? config, intendedState: state, process: existing?.process,
                                       socket: layout.socket(name), createdAt: existing?.createdAt ?? Clock.now, slot: existing?.slot)
            record.device = existing?.device
            if let restore {
                record.savedState = .init(directory: restore.directory, owned: false)
                record.cloneOf = "snapshot \(restore.name)"
                record.cloning = true
            }
            try record.write(to: layout.metadata(name))
        }
        if config.networkPool != nil {
            var record = try recorded(name)
            try await claimSlot(name, &record, journal: journal)
        }
        let disk = layout.disk(name)
        if let owner {
            // The VMM makes (or keeps) the device's disks when it starts it; now when it stays stopped.
            if state == .stopped && !keptDisk { try await owner.makeDisks(name, try recorded(name), journal: journal) }
        } else if keptDisk {
            let info = try await journal.step(.diskInspect) { try await disks.info(disk) }
            if info.virtualSize < config.disk.bytes {
                try await journal.step(.diskGrow) { try await disks.grow(disk, to: config.disk.bytes) }
            }
        } else {
            try await journal.step(.diskOverlayCreate) {
                try await disks.createOverlay(at: disk, backing: base, size: config.disk.bytes)
            }
        }
        if let restore {
            try await transition(name, to: .paused, journal: journal)
            if state != .paused { try await transition(name, to: state, journal: journal) }
            await journal.note("Restored", "restored from snapshot \(restore.name) with its memory: \(state.rawValue) \(Int(Clock.now * 1000 - restore.started * 1000)) ms from the start of the action")
        } else if state != .stopped {
            try await transition(name, to: state, journal: journal)
        }
    }

    /// Claims the sandbox's slot and records it, before any VMM starts in it. Claims are
    /// idempotent per sandbox, so a crash between the claim and its record is harmless.
    func claimSlot(_ name: String, _ record: inout SandboxRecord, journal: StepJournal) async throws {
        guard let pool = record.config.networkPool else { return }
        guard let network else {
            throw StepFailure(step: "network.slot.claim", message: "sandbox \(name) asks for pool \(pool) but this host has no network driver")
        }
        record.slot = try await network.claim(pool: pool, for: name, journal: journal)
        let claimed = record
        try await journal.step(.sandboxRecordSlot) { try claimed.write(to: layout.metadata(name)) }
    }

    // MARK: - Power

    public func transition(_ name: String, to state: PowerState, journal: StepJournal) async throws {
        var record = try recorded(name)
        let live = await liveState(name, record, full: false)
        switch state {
        case .running, .paused:
            switch live.state {
            case .running where state == .running, .paused where state == .paused:
                break
            case .running:
                try await vmm.pause(record, journal: journal)
            case .paused:
                try await vmm.resume(record, journal: journal)
            case .absent, .created, .shutdown, .unresponsive, .unknown:
                // Measured before the old VMM is stopped: without a binary or kernel it would
                // stay down.
                if let problem = vmm.missingParts().first { throw StepFailure(step: "\(vmm.stepPrefix).preflight", message: problem) }
                // `.created` too: the config a VMM holds may predate the recorded one.
                // A VMM that cannot be trusted is replaced by a fresh process; the disk stays.
                if live.state != .absent { try await vmm.stop(name, record, process: live.process, layout: layout, journal: journal) }
                if record.savedState != nil {
                    // Suspended, or a relaunch or clone under way: its memory comes back, paused.
                    try await restoreSaved(name, &record, journal: journal)
                    if state == .running { try await vmm.resume(record, journal: journal) }
                } else {
                    try await boot(name, &record, journal: journal)
                    if state == .paused { try await vmm.pause(record, journal: journal) }
                }
            }
            try await verify(name, record, expect: state == .running ? .running : .paused, journal: journal)
        case .stopped:
            if live.state != .absent { try await vmm.stop(name, record, process: live.process, layout: layout, journal: journal) }
            record.process = nil
            // Suspended → stopped drops the memory; a snapshot's state is not ours to drop.
            if let saved = record.savedState, saved.owned {
                try await removeSavedState(saved, journal: journal)
                record.savedState = nil
            }
        case .suspended:
            try await suspend(name, &record, live: live, journal: journal)
        }
        record.intendedState = state
        let final = record
        try await journal.step(.sandboxRecordUpdate) { try final.write(to: layout.metadata(name)) }
    }

    /// The sandbox's record, or a failure saying it is not recorded.
    func recorded(_ name: String) throws -> SandboxRecord {
        guard let record = SandboxRecord.read(layout.metadata(name)) else {
            throw StepFailure(step: "sandbox.record.read", message: "no record at \(layout.metadata(name)); the sandbox is not recorded")
        }
        return record
    }

    /// A fresh VMM, its pid recorded before anything else can fail, then the VM booted.
    /// (`transition`, its only caller, has checked the VMM's parts before stopping anything.)
    private func boot(_ name: String, _ record: inout SandboxRecord, journal: StepJournal) async throws {
        try await launch(name, &record, incoming: false, journal: journal) { record in
            try await vmm.boot(name, record, layout: layout, journal: journal)
        }
    }

    /// Claims a slot if need be, spawns the VMM and records who it is, then runs `start` on
    /// it (boot, or load saved state); a half-started VMM is torn down, so the next pass
    /// starts from a clean slate.
    func launch(_ name: String, _ record: inout SandboxRecord, incoming: Bool, journal: StepJournal,
                _ start: (SandboxRecord) async throws -> Void) async throws {
        if record.slot == nil { try await claimSlot(name, &record, journal: journal) }
        let process = try await vmm.spawn(name, record, layout: layout, incoming: incoming, journal: journal)
        record.process = process
        record.device = await vmm.device(name, record) ?? record.device
        let spawned = record
        try await journal.step(.sandboxRecordPID) { try spawned.write(to: layout.metadata(name)) }
        do {
            try await start(record)
        } catch {
            try? await vmm.stop(name, record, process: process, layout: layout, journal: journal)
            throw error
        }
    }

    /// "Booted" is not "running": checks the process and the VM state after the fact.
    func verify(_ name: String, _ record: SandboxRecord, expect: VMState, journal: StepJournal) async throws {
        try await journal.step(vmm.verifyStep) {
            let live = await liveState(name, record, full: false)
            guard live.state == expect else {
                throw StepFailure(step: vmm.verifyStep.rawValue, message: "expected the VM \(expect), observed \(live.state)\(vmm.logTail(name, layout: layout))")
            }
        }
    }

    // MARK: - Resize and records

    public func resize(_ name: String, config: SandboxConfig, journal: StepJournal) async throws {
        var record = try recorded(name)
        try await vmm.resize(name, record, to: config, journal: journal)
        record.config = config
        let resized = record
        try await journal.step(.sandboxRecordUpdate) { try resized.write(to: layout.metadata(name)) }
    }

    public func setBalloon(_ name: String, to size: Quantity, journal: StepJournal) async throws {
        try await vmm.setBalloon(name, try recorded(name), to: size, journal: journal)
    }

    public func update(_ name: String, config: SandboxConfig, journal: StepJournal) async throws {
        var record = try recorded(name)
        if let slot = record.slot, slot.pool != config.networkPool, let network {
            // Another pool (or none): give the old slot back; the next start claims anew.
            try await network.release(sandbox: name, journal: journal)
            record.slot = nil
        }
        record.config = config
        let updated = record
        try await journal.step(.sandboxRecordUpdate) { try updated.write(to: layout.metadata(name)) }
    }

    public func growDisk(_ name: String, to size: Quantity, journal: StepJournal) async throws {
        var record = try recorded(name)
        // A VMM that owns its disks grows them at the next start (the size is in the record).
        if !(vmm is any DiskOwningVMM) {
            try await journal.step(.diskGrow) { try await disks.grow(layout.disk(name), to: size.bytes) }
        }
        record.config.disk = size
        let grown = record
        try await journal.step(.sandboxRecordUpdate) { try grown.write(to: layout.metadata(name)) }
    }

    // MARK: - Destroy

    public func destroy(_ name: String, keepDisk: Bool, journal: StepJournal) async throws {
        let record = SandboxRecord.read(layout.metadata(name))
        let probe = record ?? SandboxRecord(name: name, config: SandboxConfig(resolving: SandboxSpec(source: .image("-")), defaults: HostDefaults()),
                                            intendedState: .stopped, process: nil, socket: layout.socket(name), createdAt: 0, slot: nil)
        let live = await liveState(name, probe, full: false)
        try await vmm.stop(name, probe, process: live.process, layout: layout, journal: journal)
        if let network {
            // Also when the claim never reached the record (a crash in between).
            try await network.release(sandbox: name, journal: journal)
            if var updated = SandboxRecord.read(layout.metadata(name)) {
                updated.slot = nil
                let released = updated
                try await journal.step(.sandboxRecordUpdate) { try released.write(to: layout.metadata(name)) }
            }
        }
        // Saved memory belongs to this VM only: a replacement boots its successor cold.
        if let saved = record?.savedState, saved.owned { try await removeSavedState(saved, journal: journal) }
        if FileManager.default.fileExists(atPath: layout.savedState(name)) {
            try await removeSavedState(.init(directory: layout.savedState(name), owned: true), journal: journal)
        }
        guard !keepDisk else { return }
        if let owner = vmm as? any DiskOwningVMM { try await owner.removeDisks(name, record ?? probe, layout: layout, journal: journal) }
        try await journal.step(.diskRemove) {
            try? FileManager.default.removeItem(atPath: layout.restoreDirectory(name))
            for file in [layout.disk(name), layout.disk(name) + ".tmp", layout.disk(name) + ".next", layout.disk(name) + ".next.tmp",
                         layout.vmmLog(name), layout.serialLog(name)] {
                try AtomicFile.remove(file)
            }
        }
        // The record goes last: a crash before this line leaves something to find.
        try await journal.step(.sandboxRecordRemove) {
            try AtomicFile.remove(layout.metadata(name))
            RecordCache.shared.forget(layout.metadata(name))
            let dir = layout.directory(name)
            for leftover in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where leftover.hasPrefix(SandboxLayout.metadataFile) {
                try AtomicFile.remove("\(dir)/\(leftover)")  // temporary record of an interrupted write
            }
            if rmdir(dir) != 0 && errno != ENOENT {
                throw SystemError(call: "rmdir(\(dir))", code: errno)
            }
        }
        // A layer only this disk was built on goes with it.
        try removeUnusedLayers()
    }
}
