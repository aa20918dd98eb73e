import Foundation
import Glibc
import ObjectStore
import Reconciler
import Resources

extension SnapshotRegistry {
    /// The folder a pull fills before it is renamed into place.
    static func pullFolder(for target: String) -> String {
        let parent = (target as NSString).deletingLastPathComponent
        return "\(parent)/.pull-\((target as NSString).lastPathComponent)"
    }

    /// Pulls `ORG/NAME` into `target`: into a temporary folder beside it first, each part
    /// checked against the manifest's SHA-256 as it lands and each file as a whole, then
    /// renamed into place, so the snapshot appears only complete and checked. A pull a
    /// crash interrupted continues from its ledger.
    func pull(_ location: String, into target: String, name: String, spec: SnapshotSpec) async throws {
        let folder = Self.pullFolder(for: target)
        let progress = TransferProgress(RegistryRecord(state: .pulling, location: location, store: store, updatedAt: Clock.now),
                                        directory: folder, name: name, sink: self.progress)
        do {
            // Made first, so that a failure (not in the registry, refused) is recorded and shown.
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try AtomicFile.write(Data("converge\n".utf8), to: "\(folder)/\(SnapshotManifest.marker)")
            let data = try await client.get("\(location)/\(SnapshotManifest.file)")
            guard var manifest = try? JSONDecoder().decode(SnapshotManifest.self, from: data), manifest.owner == "converge",
                  let transfer = manifest.transfer else {
                throw StepFailure(step: "registry.pull", message: "\(location)/\(SnapshotManifest.file) in \(store) is not a snapshot Converge pushed")
            }
            let remote = Digests.sha256Hex(data)
            var ledger = TransferLedger.read(in: folder).flatMap {
                $0.matches(.pull, location, store, partSize: transfer.partSize) && $0.manifestSHA256 == remote ? $0 : nil
            } ?? TransferLedger(direction: .pull, location: location, store: store, partSize: transfer.partSize, manifestSHA256: remote)
            var record = progress.record
            record.bytesTotal = transfer.files.reduce(0) { $0 + $1.bytes }
            progress.reset(record)
            try ledger.write(in: folder)
            for file in transfer.files {
                try await download(file, from: "\(location)/\(file.path)", into: folder, partSize: transfer.partSize,
                                   ledger: &ledger, progress: progress)
            }
            try await TransferFiles.relink(transfer.files, in: folder, qemuImg: qemuImg)
            manifest.name = name
            manifest.spec = spec
            manifest.source = "registry \(location)"
            manifest.memory = manifest.memory && spec.memory
            if !manifest.memory { manifest.runtime = nil }
            // A relinked disk's header names its new backing file: it is checked by size from now on.
            manifest.files = transfer.files.filter { !$0.path.contains("/") }.map {
                .init(name: $0.path, bytes: $0.bytes, sha256: $0.backing == nil ? $0.sha256 : nil)
            }
            try progress.finish(.pulled)
            try TransferLedger.remove(in: folder)
            try AtomicFile.writeJSON(manifest, to: "\(folder)/\(SnapshotManifest.file)")
            guard rename(folder, target) == 0 else { throw SystemError(call: "rename(\(folder), \(target))", code: errno) }
        } catch {
            let reason = Self.explain(error, location, during: .pull)
            progress.fail(reason, during: .pull)
            throw StepFailure(step: "registry.pull", message: "\(name) from \(store)/\(location): \(reason)")
        }
    }

    /// One file, its missing parts fetched `parallel` at a time straight into place.
    private func download(_ file: TransferManifest.File, from key: String, into folder: String, partSize: Int64,
                          ledger: inout TransferLedger, progress: TransferProgress) async throws {
        var state = ledger.files[file.path] ?? .init()
        if state.done {
            progress.advance(by: file.bytes)
            return
        }
        let path = "\(folder)/\(file.path)"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError(call: "open(\(path))", code: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(file.bytes)) == 0 else { throw SystemError(call: "ftruncate(\(path))", code: errno) }
        let count = file.parts.count
        let client = self.client
        func record(_ number: Int, _ sha: String, bytes: Int64) throws {
            state.parts[number] = .init(etag: nil, sha256: sha)
            ledger.files[file.path] = state
            try ledger.write(in: folder)
            progress.advance(by: bytes)
            CrashHook.shared.check(step: JournalStep.registryPart.rawValue, phase: .after)
        }
        for number in state.parts.keys where number <= count { progress.advance(by: Self.length(of: number, file.bytes, partSize)) }
        if file.bytes > 0 {
            try await withThrowingTaskGroup(of: (Int, String, Int64).self) { group in
                var inFlight = 0
                for number in 1...count where state.parts[number]?.sha256 != file.parts[number - 1] {
                    if inFlight == config.parallel, let (n, sha, bytes) = try await group.next() {
                        try record(n, sha, bytes: bytes)
                        inFlight -= 1
                    }
                    let offset = Int64(number - 1) * partSize
                    let length = Self.length(of: number, file.bytes, partSize)
                    let expected = file.parts[number - 1]
                    group.addTask {
                        let sha = try await client.download(key, range: offset...(offset + length - 1), into: fd, at: offset)
                        guard sha == expected else {
                            throw S3Error.checksumMismatch(key: "\(key) (part \(number))", expected: expected, actual: sha)
                        }
                        return (number, sha, length)
                    }
                    inFlight += 1
                }
                while let (n, sha, bytes) = try await group.next() { try record(n, sha, bytes: bytes) }
            }
        }
        let whole = try PartIO.sha256(fd, bytes: file.bytes, path: path)
        guard whole == file.sha256 else {
            state = .init()  // fetch it all again next time
            ledger.files[file.path] = state
            try ledger.write(in: folder)
            throw S3Error.checksumMismatch(key: key, expected: file.sha256, actual: whole)
        }
        state.done = true
        ledger.files[file.path] = state
        try ledger.write(in: folder)
    }

    private static func length(of part: Int, _ bytes: Int64, _ partSize: Int64) -> Int64 {
        min(partSize, bytes - Int64(part - 1) * partSize)
    }
}
