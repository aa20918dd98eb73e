import Foundation
import Glibc
import Reconciler
import Resources

/// Memory state, written once for every runtime: suspend, restore, and the relaunch a
/// snapshot or a fork puts its source through. The VMM only saves and loads; the order
/// (save → record → stop, and spawn → load → forget → resume) is here.
extension SandboxLifecycle {
    public var stateFiles: [String] { vmm.stateFiles }
    public func savedShape(in directory: String) -> SandboxConfig? { vmm.savedShape(in: directory) }

    /// Suspend: the memory goes to the sandbox's directory, then the VMM goes. A VM that
    /// does not run holds no memory to keep: it is only recorded as suspended.
    func suspend(_ name: String, _ record: inout SandboxRecord, live: LiveVM, journal: StepJournal) async throws {
        switch live.state {
        case .absent:
            return
        case .running, .paused:
            try await saveAndStop(name, &record, live: live, into: layout.savedState(name), owned: true, intended: .suspended, journal: journal)
        default:
            throw StepFailure(step: "sandbox.suspend", message: "the VM is \(live.state), so its memory cannot be trusted; only a running or paused sandbox is suspended. Set state: running (or stopped) first")
        }
    }

    /// Pauses the VM, saves its memory and device state into `directory`, records where,
    /// and only then stops the VMM: a crash at any point leaves either a live VMM or a
    /// recorded state file, never neither.
    /// - Parameters:
    ///   - owned: the state is the sandbox's own, removed once it is restored.
    ///   - intended: the power state to record with it (suspended), or nil to keep the record's.
    func saveAndStop(_ name: String, _ record: inout SandboxRecord, live: LiveVM, into directory: String, owned: Bool,
                     intended: PowerState?, journal: StepJournal) async throws {
        if let refusal = vmm.saveRefusal(record) {
            throw StepFailure(step: "sandbox.state.save", message: "the state of \(name) cannot be saved: \(refusal)")
        }
        if live.state == .running { try await vmm.pause(record, journal: journal) }
        try await journal.step(.sandboxStateSave) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in vmm.stateFiles { try AtomicFile.remove("\(directory)/\(file)") }
        }
        try await vmm.saveState(name, record, into: directory, layout: layout, journal: journal)
        record.savedState = .init(directory: directory, owned: owned)
        if let intended { record.intendedState = intended }
        let saved = record
        try await journal.step(.sandboxRecordUpdate) { try saved.write(to: layout.metadata(name)) }
        try await vmm.stop(name, record, process: live.process, layout: layout, journal: journal)
        record.process = nil
    }

    /// A fresh VMM loads the recorded state and is left paused. The record forgets the
    /// state before the guest runs again: memory restored twice onto a disk that moved on
    /// would corrupt it.
    func restoreSaved(_ name: String, _ record: inout SandboxRecord, journal: StepJournal) async throws {
        guard let saved = record.savedState else { return }
        guard vmm.stateFiles.allSatisfy({ FileManager.default.fileExists(atPath: "\(saved.directory)/\($0)") }) else {
            throw StepFailure(step: "sandbox.state.restore", message: "the saved state of \(name) in \(saved.directory) is gone or incomplete, so its memory cannot come back; set state: stopped to forget it, then running to boot from its disk")
        }
        try await launch(name, &record, incoming: true, journal: journal) { record in
            try await vmm.restore(name, record, from: saved.directory, layout: layout, journal: journal)
        }
        record.savedState = nil
        record.cloning = nil
        let restored = record
        try await journal.step(.sandboxRecordUpdate) { try restored.write(to: layout.metadata(name)) }
        if saved.owned { try await removeSavedState(saved, journal: journal) }
    }

    func removeSavedState(_ saved: SandboxRecord.SavedState, journal: StepJournal) async throws {
        try await journal.step(.sandboxStateRemove) {
            do { try FileManager.default.removeItem(atPath: saved.directory) } catch CocoaError.fileNoSuchFile {}
        }
    }

    /// Freezes the sandbox's disk as `layer` without copying it: the disk's file gets a
    /// second name (`layer`), an overlay on it is made beside, and renamed over the disk.
    /// Each step is atomic; a crash leaves the old disk in place (and an unused layer the
    /// next pass removes), or the new overlay on the complete layer. The VMM is stopped.
    func freezeDisk(_ name: String, layer: String, journal: StepJournal) async throws {
        try await journal.step(.diskFreeze) {
            let disk = layout.disk(name)
            let next = disk + ".next"
            if link(disk, layer) != 0 {
                switch errno {
                case EEXIST where Self.sameFile(disk, layer):
                    break  // a retry: the layer is already this disk
                case EXDEV:
                    // Another file system: the layer is a copy (slower, same result).
                    try FileManager.default.copyItem(atPath: disk, toPath: layer)
                default:
                    throw SystemError(call: "link(\(disk), \(layer))", code: errno)
                }
            }
            let size = try QCOW2Overlay.Backing(path: layer).virtualSize
            try await disks.createOverlay(at: next, backing: layer, size: size)
            guard rename(next, disk) == 0 else { throw SystemError(call: "rename(\(next), \(disk))", code: errno) }
        }
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// The snapshot `config` restores with its memory (its directory holds this VMM's
    /// state files), with the shape that memory was saved at; nil for a cold start.
    func warmSnapshot(of config: SandboxConfig) -> WarmSource? {
        guard case .snapshot(let name) = config.source else { return nil }
        let directory = snapshotDirectory(name)
        guard let manifest = SnapshotManifest.read(directory), manifest.memory, manifest.runtime == runtime.rawValue,
              vmm.stateFiles.allSatisfy({ FileManager.default.fileExists(atPath: "\(directory)/\($0)") }) else { return nil }
        // The VMM is rebuilt at the saved shape; a spec asking for another is resized after.
        let shaped = manifest.config.map { config.shaped(like: $0) } ?? config
        return WarmSource(name: name, directory: directory, config: shaped, started: Clock.now)
    }

    struct WarmSource {
        var name: String
        var directory: String
        var config: SandboxConfig
        var started: Double
    }
}
