import Foundation
import Glibc
import Reconciler
import Resources

/// What a crash leaves (empty directories, unused layers, unrecorded saved state), and
/// what a host lacks to build a config.
extension SandboxLifecycle {
    // MARK: - Leftovers and preflight

    /// Empty sandbox directories (a crash between making one and recording in it), and
    /// frozen layers no disk is built on any more.
    public func leftovers() -> [String] {
        emptyDirectories() + unusedLayers() + unrecordedState()
    }

    public func removeLeftovers() throws {
        for dir in emptyDirectories() where rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY {
            throw SystemError(call: "rmdir(\(dir))", code: errno)
        }
        try removeUnusedLayers()
        for directory in unrecordedState() { try FileManager.default.removeItem(atPath: directory) }
    }

    /// Saved memory no record names: a crash after the restore that consumed it. A fork
    /// child may be restoring from its parent's: kept while any record names it.
    private func unrecordedState() -> [String] {
        let names = layout.sandboxDirectoryNames()
        // Only a recorded sandbox's directory is ours to clean.
        let candidates = names.filter { access(layout.savedState($0), F_OK) == 0 }
        guard !candidates.isEmpty else { return [] }
        let records = Dictionary(uniqueKeysWithValues: names.compactMap { name in SandboxRecord.read(layout.metadata(name)).map { (name, $0) } })
        let named = Set(records.values.compactMap { $0.savedState?.directory })
        return candidates.filter { records[$0] != nil }.map(layout.savedState).filter { !named.contains($0) }
    }

    private func emptyDirectories() -> [String] {
        // A directory with a record is not empty: one access() instead of a listing each.
        layout.sandboxDirectoryNames().filter { access(layout.metadata($0), F_OK) != 0 }.map(layout.directory).filter { dir in
            (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true
        }
    }

    public func preflight(_ name: String, config: SandboxConfig) -> [String] {
        var problems = vmm.missingParts()
        do { try vmm.checkName(name, layout: layout) } catch { problems.append("\(error)") }
        // A snapshot's presence is the plan's to judge: it may be taken earlier in the same plan.
        do { if case .image = config.source { _ = try baseImage(of: config) } } catch let failure as StepFailure { problems.append(failure.message) } catch { problems.append("\(error)") }
        return problems
    }

    /// The base disk `config`'s source names (what preflight and create both need). A
    /// fork's is its parent's disk at the moment of the fork, made by the fork itself.
    func baseImage(of config: SandboxConfig) throws -> String? {
        if let owner = vmm as? any DiskOwningVMM { return try owner.source(of: config, snapshots: images.snapshotsDirectory) }
        switch config.source {
        case .image(let image):
            return try images.resolve(image)
        case .snapshot(let snapshot):
            let disk = "\(snapshotDirectory(snapshot))/disk.qcow2"
            guard FileManager.default.fileExists(atPath: "\(snapshotDirectory(snapshot))/\(SnapshotManifest.file)"),
                  FileManager.default.fileExists(atPath: disk) else {
                throw StepFailure(step: "sandbox.source", message: "snapshot \(snapshot) is not on this host (no \(snapshotDirectory(snapshot))/\(SnapshotManifest.file) with a disk.qcow2); apply its Snapshot spec first")
            }
            return disk
        case .fork:
            return nil
        }
    }

    /// Where snapshot `name` lives (CH_SNAPSHOTS_PATH/NAME, whatever the runtime).
    func snapshotDirectory(_ name: String) -> String { "\(images.snapshotsDirectory)/\(name)" }
}
