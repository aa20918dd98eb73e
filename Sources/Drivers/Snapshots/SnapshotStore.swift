import Foundation
import Glibc
import Reconciler
import Resources

/// Snapshots on the host, one directory each under `CH_SNAPSHOTS_PATH` (the runners'
/// layout): the runtime's saved state, `disk.qcow2`, and Converge's `manifest.json`.
/// Capturing is the runtimes' (they know their VMM); naming, adopting, describing and
/// removing are here, the same for every runtime.
public struct SnapshotStore: SnapshotDriver {
    public let directory: String
    let runtimes: [any SandboxRuntime]
    let checksums: SnapshotChecksums
    /// The S3-compatible store snapshots are pushed to and pulled from; nil when the host
    /// configures none.
    let registry: SnapshotRegistry?

    public init(directory: String, runtimes: [any SandboxRuntime], checksums: SnapshotChecksums = SnapshotChecksums(),
                registry: SnapshotRegistry? = nil) {
        self.directory = directory
        self.runtimes = runtimes
        self.checksums = checksums
        self.registry = registry
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    public func observe() async throws -> [String: ObservedSnapshot] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var result: [String: ObservedSnapshot] = [:]
        for name in names {
            guard let manifest = SnapshotManifest.read(path(name)), manifest.name == name else { continue }
            let disk = "\(path(name))/disk.qcow2"
            result[name] = ObservedSnapshot(name: name, spec: manifest.spec, hasMemory: manifest.memory,
                                            runtime: manifest.runtime.flatMap(Runtime.init(rawValue:)), config: manifest.config,
                                            disk: disk, diskChain: BackingChain.chain(of: disk),
                                            sizeOnDisk: DiskUsage.bytes(under: path(name)),
                                            registry: RegistryRecordFile.read(in: path(name)))
        }
        return result
    }

    public func observePulls() async -> [String: RegistryRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var result: [String: RegistryRecord] = [:]
        for entry in names where entry.hasPrefix(".pull-") {
            result[String(entry.dropFirst(6))] = RegistryRecordFile.read(in: path(entry))
        }
        return result
    }

    public func push(_ name: String, settings: RegistrySettings, journal: StepJournal) async throws {
        let registry = try configuredRegistry(for: "registry.push")
        try await journal.step(.registryPush) { try await registry.push(name, from: path(name), settings: settings) }
    }

    private func configuredRegistry(for step: String) throws -> SnapshotRegistry {
        guard let registry else {
            throw StepFailure(step: step, message: "this host configures no snapshot registry: set AWS_DEFAULT_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a store other than AWS S3)")
        }
        return registry
    }

    public func take(_ name: String, spec: SnapshotSpec, journal: StepJournal) async throws {
        let target = path(name)
        if case .registry(let location) = spec.source {
            let registry = try configuredRegistry(for: "registry.pull")
            try await journal.step(.registryPull) { try await registry.pull(location, into: target, name: name, spec: spec) }
            return
        }
        try await journal.step(.snapshotRecord) { try claim(target) }
        var manifest: SnapshotManifest
        switch spec.source {
        case .sandbox(let sandbox):
            var captured: CapturedSandbox?
            for runtime in runtimes where captured == nil {
                captured = try await runtime.capture(sandbox, into: target, memory: spec.memory, journal: journal)
            }
            guard let captured else {
                throw StepFailure(step: "snapshot.capture", message: "sandbox \(sandbox) is not on this host; a Snapshot is captured from a sandbox Converge runs")
            }
            manifest = SnapshotManifest(name: name, spec: spec, runtime: captured.hasMemory ? captured.runtime.rawValue : nil,
                                        memory: captured.hasMemory, config: captured.config, guestMAC: captured.mac,
                                        source: "sandbox \(sandbox)", parentChain: [], files: [], createdAt: Clock.now)
        case .path(let source):
            manifest = try await journal.step(.snapshotAdopt) { try adopt(source, into: target, name: name, spec: spec) }
        case .registry:
            return  // pulled above
        }
        manifest.parentChain = BackingChain.chain(of: "\(target)/disk.qcow2")
        let files = try await checksums.entries(in: target)
        manifest.files = files
        let complete = manifest
        try await journal.step(.snapshotManifest) { try complete.write(to: target) }
    }

    public func remove(_ name: String, journal: StepJournal) async throws {
        let target = path(name)
        try await pruneRemote(target, journal: journal)
        // A pull that never finished leaves only its folder.
        let pulling = SnapshotRegistry.pullFolder(for: target)
        if FileManager.default.fileExists(atPath: "\(pulling)/\(SnapshotManifest.marker)") {
            try await journal.step(.snapshotRemove) { try FileManager.default.removeItem(atPath: pulling) }
        }
        try await journal.step(.snapshotRemove) {
            guard FileManager.default.fileExists(atPath: target) else { return }
            guard FileManager.default.fileExists(atPath: "\(target)/\(SnapshotManifest.marker)") else {
                throw StepFailure(step: "snapshot.remove", message: "\(target) was not made by Converge (no \(SnapshotManifest.marker) in it); it is left as it is")
            }
            // The manifest goes first: a half-removed directory is never taken for a snapshot.
            try AtomicFile.remove("\(target)/\(SnapshotManifest.file)")
            try FileManager.default.removeItem(atPath: target)
        }
    }

    /// Deletes the registry's copy of a snapshot this host pushed with `prune` (a pulled
    /// copy belongs to its pusher), before the local one goes: a failure keeps both.
    private func pruneRemote(_ target: String, journal: StepJournal) async throws {
        guard let record = RegistryRecordFile.read(in: target), record.prune,
              record.state == .pushed || record.state == .pushing || (record.state == .failed && record.failedDuring == "push") else { return }
        let registry = try configuredRegistry(for: "registry.delete")
        guard record.store == registry.store else {
            throw StepFailure(step: "registry.delete", message: "its copy was pushed to \(record.store), but this host's registry is \(registry.store); delete \(record.location)/ there by hand, or set spec.registry.prune: false before removing it")
        }
        let ledger = TransferLedger.read(in: target)
        let open = (ledger?.files ?? [:]).compactMap { path, file in
            file.done ? nil : file.uploadID.map { (key: "\(record.location)/\(path)", uploadID: $0) }
        }
        try await journal.step(.registryDelete) { try await registry.delete(record.location, openUploads: open) }
    }

    /// Makes (or takes back, after a crash) the snapshot's directory, marked as Converge's.
    /// A directory of that name someone else made is refused, never written into.
    private func claim(_ target: String) throws {
        let marker = "\(target)/\(SnapshotManifest.marker)"
        if FileManager.default.fileExists(atPath: target) {
            let entries = try FileManager.default.contentsOfDirectory(atPath: target)
            guard entries.isEmpty || FileManager.default.fileExists(atPath: marker) else {
                throw StepFailure(step: "snapshot.record", message: "\(target) exists and was not made by Converge; move it away, or adopt it with source: {path: …} under another name")
            }
        }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try AtomicFile.write(Data("converge\n".utf8), to: marker)
    }

    /// Adopts an existing snapshot directory: its files are linked, not copied or moved
    /// (it stays the user's; removing the Snapshot removes only the links). A runtime's
    /// saved state is recognised by its files; a manifest of Converge's own is trusted.
    private func adopt(_ source: String, into target: String, name: String, spec: SnapshotSpec) throws -> SnapshotManifest {
        let from = Paths.absolute(source)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: from)) ?? []
        guard entries.contains("disk.qcow2") else {
            throw StepFailure(step: "snapshot.adopt", message: "\(from) holds no disk.qcow2; an adopted snapshot needs at least its disk")
        }
        for entry in entries where entry != SnapshotManifest.file && entry != SnapshotManifest.marker {
            let link = "\(target)/\(entry)"
            try AtomicFile.remove(link)
            guard symlink("\(from)/\(entry)", link) == 0 else { throw SystemError(call: "symlink(\(from)/\(entry))", code: errno) }
        }
        if var theirs = SnapshotManifest.read(from) {
            theirs.name = name
            theirs.spec = spec
            theirs.source = "path \(from)"
            theirs.memory = theirs.memory && spec.memory
            return theirs
        }
        // Memory comes back only at the shape it was saved at: state without one is disk only.
        let warm = runtimes.lazy.compactMap { runtime in
            runtime.stateFiles.allSatisfy(entries.contains) ? runtime.savedShape(in: from).map { (runtime.runtime, $0) } : nil
        }.first
        let memory = spec.memory && warm != nil
        return SnapshotManifest(name: name, spec: spec, runtime: memory ? warm?.0.rawValue : nil, memory: memory,
                                config: memory ? warm?.1 : nil, guestMAC: nil, source: "path \(from)",
                                parentChain: [], files: [], createdAt: Clock.now)
    }
}

extension JournalStep {
    public static let snapshotRecord = JournalStep("snapshot.record")
    public static let snapshotAdopt = JournalStep("snapshot.adopt")
    public static let snapshotManifest = JournalStep("snapshot.manifest")
    public static let snapshotRemove = JournalStep("snapshot.remove")
    // Memory state and frozen disks, shared by every runtime.
    public static let sandboxStateSave = JournalStep("sandbox.state.save")
    public static let sandboxStateRemove = JournalStep("sandbox.state.remove")
    public static let diskFreeze = JournalStep("disk.freeze")

    /// Snapshots', memory state's and frozen disks' steps, beside the shared ones.
    public static let memoryState: [JournalStep] = [
        snapshotRecord, snapshotAdopt, snapshotManifest, snapshotRemove, sandboxStateSave, sandboxStateRemove, diskFreeze,
    ]
}
