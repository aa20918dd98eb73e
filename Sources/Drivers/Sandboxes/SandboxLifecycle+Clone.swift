import Foundation
import Glibc
import Reconciler
import Resources

/// Snapshots and live forks: both freeze the source's disk as a layer that the source and
/// the copies are built on, and carry its memory across a relaunch of the source (no VMM
/// can switch a live VM onto a new disk file, so the source is saved, stopped, and
/// restored onto its new overlay).
extension SandboxLifecycle {
    public func capture(_ name: String, into directory: String, memory: Bool, journal: StepJournal) async throws -> CapturedSandbox? {
        guard var record = SandboxRecord.read(layout.metadata(name)) else { return nil }
        if let owner = vmm as? any DiskOwningVMM { return try await captureOwned(owner, name, record, into: directory, memory: memory, journal: journal) }
        let layer = "\(directory)/disk.qcow2"
        let captured = CapturedSandbox(runtime: runtime, config: record.config, hasMemory: memory,
                                       mac: record.cloneOf == nil ? MACAddress.string(for: name) : nil)
        // A retry after a crash once the disk was frozen: the capture is complete (the
        // memory was saved before the freeze); the sandbox's own actions bring it back.
        if FileManager.default.fileExists(atPath: layer) && BackingChain.chain(of: layout.disk(name)).contains(layer) {
            return captured
        }
        let live = await liveState(name, record, full: false)
        switch live.state {
        case .running, .paused:
            let wanted: PowerState = live.state == .running ? .running : .paused
            try await saveAndStop(name, &record, live: live, into: memory ? directory : layout.savedState(name), owned: !memory,
                                  intended: nil, journal: journal)
            try await freezeDisk(name, layer: layer, journal: journal)
            try await transition(name, to: wanted, journal: journal)
        case .absent where !memory:
            try await freezeDisk(name, layer: layer, journal: journal)
        default:
            throw StepFailure(step: "snapshot.capture", message: "sandbox \(name) is \(live.state == .absent ? record.intendedState.rawValue : "\(live.state)"); a snapshot with memory is taken from a running or paused sandbox (or set memory: false)")
        }
        return captured
    }

    /// A live fork: the parent is paused and saved, its disk frozen as a layer, the child
    /// restored from the parent's state onto an overlay of that layer, then both run.
    /// On any failure the parent comes back and nothing of the child is left.
    func createFork(_ child: String, config: SandboxConfig, state: PowerState, parent: String, journal: StepJournal) async throws {
        guard var parentRecord = SandboxRecord.read(layout.metadata(parent)) else {
            throw StepFailure(step: "sandbox.fork", message: "fork source \(parent) is not a \(runtime.rawValue) sandbox on this host (a fork runs on its parent's runtime)")
        }
        let live = await liveState(parent, parentRecord, full: false)
        guard live.state == .running || live.state == .paused || parentRecord.savedState != nil else {
            throw StepFailure(step: "sandbox.fork", message: "fork source \(parent) is \(live.state == .absent ? parentRecord.intendedState.rawValue : "\(live.state)"); a live fork is taken from a running or paused sandbox")
        }
        if let refusal = vmm.saveRefusal(parentRecord) {
            throw StepFailure(step: "sandbox.fork", message: "fork source \(parent) cannot be saved: \(refusal)")
        }
        try vmm.checkName(child, layout: layout)
        let wanted: PowerState = parentRecord.intendedState == .paused ? .paused : .running
        // The child's VMM is built at the parent's shape (its memory is the parent's); a spec
        // asking for another is resized or replaced after, like any change.
        let shaped = config.shaped(like: parentRecord.config)
        // The child is recorded first, as a clone not yet made, then claims its slot.
        var record = SandboxRecord(name: child, config: shaped, intendedState: state, process: nil, socket: layout.socket(child),
                                   createdAt: Clock.now, slot: SandboxRecord.read(layout.metadata(child))?.slot)
        record.cloneOf = "fork of \(parent)"
        record.cloning = true
        let fresh = record
        try await journal.step(.sandboxRecord) {
            try FileManager.default.createDirectory(atPath: layout.directory(child), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: layout.layersDirectory, withIntermediateDirectories: true)
            try fresh.write(to: layout.metadata(child))
        }
        let paused = Date()
        do {
            try await claimSlot(child, &record, journal: journal)
            if parentRecord.savedState == nil {
                try await saveAndStop(parent, &parentRecord, live: live, into: layout.savedState(parent), owned: true,
                                      intended: nil, journal: journal)
            }
            let layer = "\(layout.layersDirectory)/\(parent)-\(Int64(Clock.now * 1000)).qcow2"
            try await freezeDisk(parent, layer: layer, journal: journal)
            try await journal.step(.diskOverlayCreate) {
                try await disks.createOverlay(at: layout.disk(child), backing: layer, size: config.disk.bytes)
            }
            record.savedState = .init(directory: layout.savedState(parent), owned: false)
            let ready = record
            try await journal.step(.sandboxRecordUpdate) { try ready.write(to: layout.metadata(child)) }
            try await transition(child, to: .paused, journal: journal)
        } catch {
            try? await destroy(child, keepDisk: false, journal: journal)
            try? await transition(parent, to: wanted, journal: journal)
            throw error
        }
        try await transition(parent, to: wanted, journal: journal)
        let downtime = Int(Date().timeIntervalSince(paused) * 1000)
        await journal.note("ForkDowntime", "parent \(parent) was paused for \(downtime) ms while \(child) was forked from it")
        if state != .paused { try await transition(child, to: state, journal: journal) }
    }

    /// A capture from a VMM that owns its disks: its saved state when memory is asked and
    /// the device can save it (else the capture is disk-only), or a copy of its disk files.
    /// The sandbox keeps running on its own disks; nothing is frozen under it.
    private func captureOwned(_ owner: any DiskOwningVMM, _ name: String, _ record: SandboxRecord, into directory: String,
                              memory: Bool, journal: StepJournal) async throws -> CapturedSandbox {
        let live = await liveState(name, record, full: false)
        let warm = memory && vmm.saveRefusal(record) == nil && (live.state == .running || live.state == .paused)
        if warm {
            try await vmm.saveState(name, record, into: directory, layout: layout, journal: journal)
        } else {
            try await owner.copyDisks(name, record, into: directory, journal: journal)
        }
        return CapturedSandbox(runtime: runtime, config: record.config, hasMemory: warm, mac: nil)
    }
}
