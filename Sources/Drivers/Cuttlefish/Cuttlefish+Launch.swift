import Foundation
import Glibc
import Reconciler
import Resources

extension Cuttlefish.Adapter {
    // MARK: - Launch

    /// Brings the sandbox's group to a booted device and returns its crosvm: `start` on a
    /// Stopped or Cancelled group, else `create` (a group cvd believes runs while its device
    /// is dead, or whose boot failed, is removed first: that frees its id, and the device is
    /// made again per its spec). `create` and `start` block until the device booted.
    /// - Parameter incoming: start from the saved state the record names (`--snapshot_path`).
    public func spawn(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, incoming: Bool, journal: StepJournal) async throws -> ProcessIdentity {
        let group = Cuttlefish.groupName(name)
        let fleet = try await tools.fleet()
        var existing = fleet.instance(of: group)
        if let found = existing {
            guard owns(group, found) else { throw foreign(group) }
            if found.status != .stopped && found.status != .cancelled {
                try await remove(group, found, journal: journal)
                existing = nil
            }
        }
        let snapshot = incoming ? record.savedState.map { "\($0.directory)/\(Self.stateDirectory)" } : nil
        if let found = existing, let id = found.id {
            // A Cancelled launch may have left its crosvm running on the instance's files.
            try await clean(id, killing: true, journal: journal)
            try await journal.step(.cuttlefishStart) { try await launch(group, ["start"] + launchFlags(record.config, snapshot: snapshot), journal) }
        } else {
            try await create(name, record, fleet: fleet, snapshot: snapshot, start: true, journal: journal)
        }
        guard let id = try await tools.fleet().instance(of: group)?.id, let process = host.crosvm(id) else {
            throw StepFailure(step: "cuttlefish.start", message: "cvd reported group \(group) launched, but no crosvm of it runs (CVD_TMP_PATH \(host.tmp) must be where cvd keeps cf_avd_\(host.uid))")
        }
        return process
    }

    /// `cvd create` of the sandbox's group (`--nostart` unless `start`), on the id it had
    /// when still free, so its adb serial stays the same across a re-creation. A disk-only
    /// snapshot's files go into the new instance before its first start.
    func create(_ name: String, _ record: SandboxRecord, fleet: Cuttlefish.Fleet, snapshot: String?, start: Bool, journal: StepJournal) async throws {
        let group = Cuttlefish.groupName(name)
        let id = record.device.flatMap { fleet.ids.contains($0.id) || host.crosvm($0.id) != nil ? nil : $0.id }
        if let id { try await clean(id, killing: false, journal: journal) }
        let restoreDisks = snapshot == nil ? diskSnapshot(record.config) : nil
        let artifacts = try source(of: record.config, snapshots: snapshotsDirectory)
        var args = ["create", "--host_path=\(artifacts)", "--product_path=\(artifacts)"]
        if let id { args.append("--base_instance_num=\(id)") }
        if restoreDisks != nil || !start { args.append("--nostart") }
        args += launchFlags(record.config, snapshot: snapshot)
        let create = args
        try await journal.step(.cuttlefishCreate) { try await launch(group, create, journal) }
        if let restoreDisks {
            try await journal.step(.cuttlefishDiskRestore) { try await restore(disks: restoreDisks, into: group) }
            if start {
                try await journal.step(.cuttlefishStart) { try await launch(group, ["start"] + launchFlags(record.config, snapshot: nil), journal) }
            }
        }
    }

    /// cvd already waited for the boot; adb confirms it (reference: "still poll briefly").
    public func boot(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.cuttlefishBootWait) {
            guard let id = try await tools.fleet().instance(of: Cuttlefish.groupName(name))?.id else {
                throw StepFailure(step: "cuttlefish.boot.wait", message: "group \(Cuttlefish.groupName(name)) vanished after its launch")
            }
            let deadline = Date().addingTimeInterval(60)
            while await tools.bootCompleted(serial(id), timeout: adbTimeout) != true {
                guard Date() < deadline else {
                    throw StepFailure(step: "cuttlefish.boot.wait", message: "adb -s \(serial(id)) never reported sys.boot_completed=1")
                }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }
    }

    /// `create`/`start`, turning cvd's failures into what the reconciler acts on. A failed
    /// boot leaves the group `Boot Failed` holding its id: it is removed at once (a retry,
    /// with the reconciler's backoff, then gets the smallest id again). A launch cvd aborted
    /// after the device booted (`Cancelled`) counts as done when adb says it booted.
    func launch(_ group: String, _ args: [String], _ journal: StepJournal) async throws {
        do {
            try await tools.cvd(group, args, timeout: launchTimeout)
        } catch let error as Cuttlefish.CVDError {
            let instance = try? await tools.fleet().instance(of: group)
            if instance?.status == .cancelled, let id = instance?.id, host.crosvm(id) != nil,
               await tools.bootCompleted(serial(id), timeout: adbTimeout) == true {
                await journal.note("Cancelled", "cvd \(args[0]) of \(group) was cancelled after the device booted; the device runs and is kept")
                return
            }
            if instance?.status == .bootFailed || error.says("failed to boot") || error.says("Failed to validate tap") {
                if let instance, let id = instance.id { try? await host.killCrosvms(id) }
                _ = try? await tools.cvd(group, ["rm"], timeout: stopTimeout)
                await journal.note("BootFailed", "device \(group) failed to boot (\(error.tail)); its group was removed so its id is free, and it is retried with backoff")
                throw StepFailure(step: "cuttlefish.\(args[0])", message: "Boot Failed: cvd \(args[0]) of \(group): \(error.tail)")
            }
            throw StepFailure(step: "cuttlefish.\(args[0])", message: "\(error)")
        }
    }

    /// `cvd create`/`start` flags for `config`. A start from saved state takes its launch
    /// configuration from the snapshot.
    func launchFlags(_ config: SandboxConfig, snapshot: String?) -> [String] {
        if let snapshot { return ["--snapshot_path=\(snapshot)"] }
        var flags = ["--cpus=\(config.cpus)", "--memory_mb=\(config.memory.bytes >> 20)",
                     "--blank_data_image_mb=\(config.disk.bytes >> 20)", "--data_policy=use_existing"]
        if config.snapshotCompatible == true {
            // crosvm cannot sleep virtio-fs, GPU or USB devices (reference §7).
            flags += ["--snapshot_compatible", "--enable_virtiofs=false", "--gpu_mode=guest_swiftshader", "--enable_usb=false"]
        }
        return flags
    }

    func foreign(_ group: String) -> StepFailure {
        StepFailure(step: "cuttlefish.group", message: "cvd group \(group) exists but was not created by this state directory (it was not launched with HOME \(tools.home(of: group))); Converge leaves it alone. Remove it yourself (cvd --group_name=\(group) rm) or rename the sandbox")
    }

    /// Stale runtime files of instance `id` (a crashed run's sockets, environment, lock),
    /// removed before a launch would trip on them; with `killing`, also a crosvm a
    /// cancelled launch left. Only for ids this sandbox holds or held.
    func clean(_ id: Int, killing: Bool, journal: StepJournal) async throws {
        let leftover = killing ? host.crosvms(of: id) : []
        guard !leftover.isEmpty || !host.staleFiles(id).isEmpty else { return }
        try await journal.step(.cuttlefishClean) {
            if killing { try await host.killCrosvms(id) }
            try host.removeStaleFiles(id)
        }
    }

    // MARK: - Stop

    /// `cvd stop` on an active group of Converge's, then waits for its crosvm to go (and
    /// kills it when its launcher is gone, e.g. /tmp was cleaned under it).
    public func stop(_ name: String, _ record: SandboxRecord, process: ProcessIdentity?, layout: SandboxLayout, journal: StepJournal) async throws {
        let group = Cuttlefish.groupName(name)
        try await journal.step(.cuttlefishStop) {
            if let found = try await tools.fleet().instance(of: group), owns(group, found), found.status.isActive {
                do {
                    try await tools.cvd(group, ["stop"], timeout: stopTimeout)
                } catch let error as Cuttlefish.CVDError
                            where error.says("not running") || error.says("no devices present") || error.says("monitor socket") {
                    // Nothing left to tell to stop: its crosvm, if any, is killed below.
                }
            }
            if let process { try await VMMProcess.terminate(process, grace: 5, step: "cuttlefish.stop") }
            try AtomicFile.remove(Self.pausedMarker(record))
        }
    }

    /// `cvd rm` of a group this adapter found unusable, once its processes and files are gone.
    func remove(_ group: String, _ instance: Cuttlefish.Instance, journal: StepJournal) async throws {
        try await journal.step(.cuttlefishRemove) { try await removeGroup(group, instance) }
    }

    /// Kills what is left of the instance and removes its runtime files while the group
    /// still holds its id (afterwards another group may get it), then `cvd rm`, then checks
    /// with `cvd fleet` that the group is gone (`rm` has been seen to leave groups listed).
    func removeGroup(_ group: String, _ instance: Cuttlefish.Instance) async throws {
        if let id = instance.id {
            try await host.killCrosvms(id)
            try host.removeStaleFiles(id)
        }
        do {
            try await tools.cvd(group, ["rm"], timeout: stopTimeout)
        } catch let error as Cuttlefish.CVDError where error.says("no devices present") || error.says("No instance group named") {}
        if try await tools.fleet().instance(of: group) != nil {
            throw StepFailure(step: "cuttlefish.remove", message: "cvd --group_name=\(group) rm returned, but cvd fleet still lists the group")
        }
    }
}

extension Cuttlefish.Adapter: DiskOwningVMM {
    /// A sandbox created `stopped`: its group is made (`cvd create --nostart`), not started.
    public func makeDisks(_ name: String, _ record: SandboxRecord, journal: StepJournal) async throws {
        let group = Cuttlefish.groupName(name)
        let fleet = try await tools.fleet()
        if let found = fleet.instance(of: group) {
            guard owns(group, found) else { throw foreign(group) }
            return
        }
        try await create(name, record, fleet: fleet, snapshot: nil, start: false, journal: journal)
    }

    public func hasDisks(_ name: String, _ record: SandboxRecord) async -> Bool {
        instance(name, in: await fleet()) != nil
    }

    public func removeDisks(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, journal: StepJournal) async throws {
        let group = Cuttlefish.groupName(name)
        try await journal.step(.cuttlefishRemove) {
            if let found = try await tools.fleet().instance(of: group) {
                // Another's group of the same name is not ours to remove: only our record goes.
                guard owns(group, found) else { return }
                try await removeGroup(group, found)
            } else if let id = record.device?.id, host.crosvm(id) == nil, try await !tools.fleet().ids.contains(id) {
                try host.removeStaleFiles(id)
            }
            try? FileManager.default.removeItem(atPath: tools.home(of: group))
        }
    }

    /// `source.image: NAME` is the directory `CVD_ARTIFACTS_PATH/NAME` (or an absolute
    /// path) holding the host package and device images; `source.snapshot` is a snapshot
    /// directory of this runtime's.
    public func source(of config: SandboxConfig, snapshots: String) throws -> String {
        switch config.source {
        case .image(let image):
            let directory = image.hasPrefix("/") ? image : "\(artifacts)/\(image)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw StepFailure(step: "sandbox.source", message: "Cuttlefish image \(image) is not a directory at \(directory); unpack the host package and device images there (CVD_ARTIFACTS_PATH)")
            }
            return directory
        case .snapshot(let name):
            let directory = "\(snapshots)/\(name)"
            guard let manifest = SnapshotManifest.read(directory),
                  FileManager.default.fileExists(atPath: "\(directory)/\(Self.diskDirectory)") || manifest.memory else {
                throw StepFailure(step: "sandbox.source", message: "snapshot \(name) is not a Cuttlefish snapshot on this host (no \(directory)/\(Self.diskDirectory)); apply its Snapshot spec first")
            }
            // The device's images come from the sandbox the snapshot was taken from.
            guard let origin = manifest.config, origin.runtime == .cuttlefish, case .image = origin.source else {
                throw StepFailure(step: "sandbox.source", message: "snapshot \(name) was not taken from a Cuttlefish sandbox built from an image")
            }
            return try source(of: origin, snapshots: snapshots)
        case .fork(let parent):
            throw StepFailure(step: "sandbox.source", message: "a Cuttlefish device cannot be forked live (from \(parent)); take a Snapshot and use source.snapshot")
        }
    }
}
