import CSystemShim
import Foundation
import ObjectStore
import Reconciler

/// Snapshots in an S3-compatible store under `{bucket}/{org}/{name}/`, as the runners keep
/// them: every file, then `manifest.json` last, so a copy counts as present only once it
/// is complete. Transfers are multipart, a bounded number of parts at a time, resumable
/// from their ledger, and checked by SHA-256 per part and per file.
public struct SnapshotRegistry: Sendable {
    let client: S3Client
    let config: RegistryConfig
    let qemuImg: QemuImg
    /// Where transfers report progress besides `registry.json` (the terminal).
    public var progress: (@Sendable (_ snapshot: String, _ record: RegistryRecord) -> Void)?

    public init(config: RegistryConfig, qemuImg: QemuImg = QemuImg()) {
        self.client = S3Client(location: config.location, credentials: config.credentials)
        self.config = config
        self.qemuImg = qemuImg
        // Parts are mapped and unmapped on their own. Left to itself, glibc raises its mmap
        // threshold after the first such free and serves later parts from heap arenas it
        // keeps: a 1 GiB push then held 330 MiB instead of (parallel + 1) parts.
        _ = cvg_fix_mmap_threshold(1 << 20)
    }

    var store: String { config.storeName }
    var partSize: Int64 { config.partSize }

    /// Deletes the copy at `ORG/NAME`: its manifest first, so that a half-deleted copy is
    /// never taken for a snapshot, then every object under it. Uploads a crashed push left
    /// open are aborted. Absent objects are fine.
    func delete(_ location: String, openUploads: [(key: String, uploadID: String)]) async throws {
        for upload in openUploads { try await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID) }
        try await client.delete("\(location)/\(SnapshotManifest.file)")
        for object in try await client.list(prefix: "\(location)/") { try await client.delete(object.key) }
    }

    /// An error of the store's, phrased for the snapshot's condition (never a credential).
    static func explain(_ error: any Error, _ location: String, during direction: TransferLedger.Direction) -> String {
        switch error {
        case S3Error.denied:
            return "\(error); the registry refused the credentials, so nothing is retried until they change"
        case S3Error.notFound where direction == .pull:
            return "\(location) is not in the registry: \(error)"
        default:
            return "\(error)"
        }
    }
}

extension JournalStep {
    public static let registryPush = JournalStep("registry.push")
    public static let registryPull = JournalStep("registry.pull")
    public static let registryDelete = JournalStep("registry.delete")
    /// Not a journal step: the crash hook fires after each part's ledger write.
    public static let registryPart = JournalStep("registry.part")

    public static let registry: [JournalStep] = [registryPush, registryPull, registryDelete]
}
