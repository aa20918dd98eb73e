import Foundation
import Reconciler
import Resources

extension Cuttlefish.Adapter {
    // MARK: - Pause (suspend in place)

    /// `cvd suspend`; the mark is Converge's own, as cvd's fleet keeps saying Running.
    public func pause(_ record: SandboxRecord, journal: StepJournal) async throws {
        try await journal.step(.cuttlefishSuspend) {
            try await tools.cvd(Cuttlefish.groupName(record.name), ["suspend"], timeout: stopTimeout)
            try AtomicFile.write(Data("suspended\n".utf8), to: Self.pausedMarker(record))
        }
    }

    /// `cvd resume` of a device Converge suspended (a running one is left as it is).
    public func resume(_ record: SandboxRecord, journal: StepJournal) async throws {
        guard FileManager.default.fileExists(atPath: Self.pausedMarker(record)) else { return }
        try await journal.step(.cuttlefishResume) {
            try await tools.cvd(Cuttlefish.groupName(record.name), ["resume"], timeout: stopTimeout)
            try AtomicFile.remove(Self.pausedMarker(record))
        }
    }

    // MARK: - Sizes (a new size is a relaunch: capabilities say so)

    public func resize(_ name: String, _ record: SandboxRecord, to config: SandboxConfig, journal: StepJournal) async throws {
        throw StepFailure(step: "cuttlefish.resize", message: "a Cuttlefish device cannot change vCPUs or memory while it runs; the change replaces it, keeping its data")
    }

    public func setBalloon(_ name: String, _ record: SandboxRecord, to size: Quantity, journal: StepJournal) async throws {
        throw StepFailure(step: "cuttlefish.balloon", message: "Converge drives no balloon on Cuttlefish devices (stock images lack the guest driver)")
    }

    // MARK: - Memory state (cvd snapshots)

    /// cvd's snapshot goes into `cvd/` of a state directory (`snapshot_take --force` replaces
    /// the directory it is given, and a Snapshot's directory holds Converge's own files too).
    static let stateDirectory = "cvd"
    public var stateFiles: [String] { ["\(Self.stateDirectory)/snapshot_meta_info.json"] }
    public func savedShape(in directory: String) -> SandboxConfig? { nil }

    public func saveRefusal(_ record: SandboxRecord) -> String? {
        record.config.snapshotCompatible == true ? nil
            : "the device was not launched snapshot-compatible (set spec.snapshotCompatible: true; it is launched without virtio-fs, GPU acceleration and USB, which crosvm cannot suspend)"
    }

    /// `cvd snapshot_take --force --snapshot_path=D` (the directory must not exist; `--force`
    /// removes the empty one the lifecycle made). `--auto_suspend` when the device still runs.
    public func saveState(_ name: String, _ record: SandboxRecord, into directory: String, layout: SandboxLayout, journal: StepJournal) async throws {
        let suspended = FileManager.default.fileExists(atPath: Self.pausedMarker(record))
        try await journal.step(.cuttlefishSnapshotTake) {
            _ = try await tools.cvd(Cuttlefish.groupName(name), ["snapshot_take"] + (suspended ? [] : ["--auto_suspend"]) + ["--force", "--snapshot_path=\(directory)/\(Self.stateDirectory)"],
                                timeout: launchTimeout)
        }
    }

    /// The state came back with `start --snapshot_path` (in `spawn`); the lifecycle expects
    /// the VM paused now, so it is suspended until the lifecycle resumes it.
    public func restore(_ name: String, _ record: SandboxRecord, from directory: String, layout: SandboxLayout, journal: StepJournal) async throws {
        try await pause(record, journal: journal)
    }

    // MARK: - Disk-only snapshots

    /// Inside a snapshot directory: the instance's disk files.
    static let diskDirectory = "instance_data"

    /// The disk-only snapshot `config` is created from, if it is one.
    func diskSnapshot(_ config: SandboxConfig) -> String? {
        guard case .snapshot(let name) = config.source else { return nil }
        let directory = "\(snapshotsDirectory)/\(name)/\(Self.diskDirectory)"
        return FileManager.default.fileExists(atPath: directory) ? directory : nil
    }

    /// Copies the instance's disk files (its `.img` files and the guest's data
    /// directories; not its logs, sockets or config) into `directory/instance_data`. A
    /// running snapshot-compatible device is suspended meanwhile, so the copy is consistent;
    /// another is copied as it runs (crash-consistent, as runner-android did).
    public func copyDisks(_ name: String, _ record: SandboxRecord, into directory: String, journal: StepJournal) async throws {
        let group = Cuttlefish.groupName(name)
        guard let instance = instance(name, in: await fleet(fresh: true)) else {
            throw StepFailure(step: "cuttlefish.disk.copy", message: "sandbox \(name) has no device (group \(group)) to copy the disks of")
        }
        let running = instance.status.isActive && !FileManager.default.fileExists(atPath: Self.pausedMarker(record))
            && record.config.snapshotCompatible == true
        if running { try await pause(record, journal: journal) }
        try await journal.step(.cuttlefishDiskCopy) {
            let target = "\(directory)/\(Self.diskDirectory)"
            try? FileManager.default.removeItem(atPath: target + ".tmp")
            try FileManager.default.createDirectory(atPath: target + ".tmp", withIntermediateDirectories: true)
            for entry in Self.diskEntries(instance.diskDirectory) {
                try await Self.copySparse("\(instance.diskDirectory)/\(entry)", to: "\(target).tmp/\(entry)")
            }
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.moveItem(atPath: target + ".tmp", toPath: target)
        }
        if running { try await resume(record, journal: journal) }
    }

    /// Puts a disk-only snapshot's files into group `group`'s fresh (never started) instance.
    func restore(disks: String, into group: String) async throws {
        guard let instance = try await tools.fleet().instance(of: group) else {
            throw StepFailure(step: "cuttlefish.disk.restore", message: "group \(group) vanished before its disks were restored")
        }
        try FileManager.default.createDirectory(atPath: instance.diskDirectory, withIntermediateDirectories: true)
        for entry in Self.diskEntries(disks) {
            let target = "\(instance.diskDirectory)/\(entry)"
            try? FileManager.default.removeItem(atPath: target)
            try await Self.copySparse("\(disks)/\(entry)", to: target)
        }
    }

    /// Disk images and data directories of an instance directory.
    static func diskEntries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { entry in
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: "\(directory)/\(entry)", isDirectory: &isDirectory)
            return entry.hasSuffix(".img") || (isDirectory.boolValue && !["logs", "internal", "assembly"].contains(entry))
        }.sorted()
    }

    /// `cp -a --sparse=always`: data images are large and mostly holes.
    static func copySparse(_ from: String, to: String) async throws {
        let result = try await Blocking.run { try Spawn.runToCompletion(["/bin/cp", "-a", "--sparse=always", from, to]) }
        guard result.status == 0 else {
            throw StepFailure(step: "cuttlefish.disk.copy", message: "cp \(from) \(to): \(result.stderr)")
        }
    }
}
