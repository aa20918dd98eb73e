import Foundation
import Glibc
import Reconciler

/// Frozen layers outlive the sandbox they were frozen from (a fork child is built on its
/// parent's), and go once no disk needs them: no sandbox disk of this runtime and no
/// snapshot disk has them in its backing chain.
extension SandboxLifecycle {
    func unusedLayers() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: layout.layersDirectory)) ?? []
        let layers = files.filter { $0.hasSuffix(".qcow2") || $0.hasSuffix(".tmp") }.map { "\(layout.layersDirectory)/\($0)" }
        guard !layers.isEmpty else { return [] }
        var needed: Set<String> = []
        for name in layout.sandboxDirectoryNames() {
            let disk = layout.disk(name)
            needed.formUnion(BackingChain.chain(of: disk))
            needed.formUnion(BackingChain.chain(of: disk + ".next"))  // a freeze under way
        }
        let snapshots = (try? FileManager.default.contentsOfDirectory(atPath: images.snapshotsDirectory)) ?? []
        for snapshot in snapshots {
            let disk = "\(images.snapshotsDirectory)/\(snapshot)/disk.qcow2"
            needed.insert(disk)
            needed.formUnion(BackingChain.chain(of: disk))
        }
        return layers.filter { !needed.contains($0) }.sorted()
    }

    /// Removes the layers no disk needs, and their directory once it is empty. Safe beside a
    /// freeze under way: a layer removed before its overlay exists fails that freeze, which
    /// leaves the sandbox on its old disk.
    func removeUnusedLayers() throws {
        for layer in unusedLayers() { try AtomicFile.remove(layer) }
        if (try? FileManager.default.contentsOfDirectory(atPath: layout.layersDirectory))?.isEmpty == true {
            rmdir(layout.layersDirectory)
        }
    }
}
