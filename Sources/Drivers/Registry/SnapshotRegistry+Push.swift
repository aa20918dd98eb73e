import Foundation
import Glibc
import ObjectStore
import Reconciler
import Resources

extension SnapshotRegistry {
    /// Pushes the snapshot in `directory` to `{org}/{name}/`, or only records `prune` when
    /// the registry already holds it there. A push a crash interrupted continues from its
    /// ledger: parts that landed are not sent again.
    func push(_ name: String, from directory: String, settings: RegistrySettings) async throws {
        let location = "\(settings.org)/\(name)"
        if var record = RegistryRecordFile.read(in: directory), record.holds(location, in: store) {
            if record.state == .pushed && record.prune != settings.prune {
                record.prune = settings.prune
                try RegistryRecordFile.write(record, in: directory)
            }
            return
        }
        guard var manifest = SnapshotManifest.read(directory) else {
            throw StepFailure(step: "registry.push", message: "\(directory) holds no complete snapshot (no \(SnapshotManifest.file)); it is pushed once it is taken")
        }
        let files = try TransferFiles.list(directory)
        var ledger = TransferLedger.read(in: directory).flatMap { $0.matches(.push, location, store, partSize: partSize) ? $0 : nil }
            ?? TransferLedger(direction: .push, location: location, store: store, partSize: partSize)
        let record = RegistryRecord(state: .pushing, location: location, store: store, prune: settings.prune,
                                    bytesTotal: files.reduce(0) { $0 + $1.bytes }, updatedAt: Clock.now)
        let progress = TransferProgress(record, directory: directory, name: name, sink: self.progress)
        do {
            try RegistryRecordFile.write(record, in: directory)
            var entries: [TransferManifest.File] = []
            for file in files {
                entries.append(try await upload(file, to: "\(location)/\(file.path)", ledger: &ledger, directory: directory, progress: progress))
            }
            manifest.transfer = TransferManifest(partSize: partSize, files: entries)
            // Last: only now does the registry hold the snapshot.
            try await client.put("\(location)/\(SnapshotManifest.file)", body: try Self.encode(manifest))
            try progress.finish(.pushed)
            try TransferLedger.remove(in: directory)
        } catch {
            let reason = Self.explain(error, location, during: .push)
            progress.fail(reason, during: .push)
            throw StepFailure(step: "registry.push", message: "\(name) to \(store)/\(location): \(reason)")
        }
    }

    /// One file: a single PUT when it fits in a part, else a multipart upload with at most
    /// `parallel` parts in flight while the next one is read and hashed.
    private func upload(_ file: TransferFile, to key: String, ledger: inout TransferLedger, directory: String,
                        progress: TransferProgress) async throws -> TransferManifest.File {
        var entry = TransferManifest.File(path: file.path, bytes: file.bytes, sha256: "", parts: [],
                                          backing: file.backing, backingFormat: file.backingFormat)
        if let done = ledger.files[file.path], done.done, let sha = done.sha256, let parts = done.partHashes {
            progress.advance(by: file.bytes)
            entry.sha256 = sha
            entry.parts = parts
            return entry
        }
        let fd = open(file.source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(call: "open(\(file.source))", code: errno) }
        defer { close(fd) }
        if file.bytes <= partSize {
            let data = try PartIO.read(fd, offset: 0, length: file.bytes, path: file.source)
            let sha = Digests.sha256Hex(data)
            try await client.put(key, body: data, sha256: sha)
            entry.sha256 = sha
            entry.parts = [sha]
        } else {
            (entry.sha256, entry.parts) = try await multipart(file, fd: fd, key: key, ledger: &ledger, directory: directory, progress: progress)
        }
        ledger.files[file.path] = .init(done: true, sha256: entry.sha256, partHashes: entry.parts)
        try ledger.write(in: directory)
        if file.bytes <= partSize { progress.advance(by: file.bytes) }
        return entry
    }

    private func multipart(_ file: TransferFile, fd: Int32, key: String, ledger: inout TransferLedger, directory: String,
                           progress: TransferProgress) async throws -> (sha256: String, parts: [String]) {
        var state = ledger.files[file.path] ?? .init()
        var landed: [Int: TransferLedger.Part] = [:]
        if let id = state.uploadID {
            // Trust only parts the store still lists with the ETag the ledger recorded.
            do {
                let listed = try await client.listParts(key, uploadID: id)
                landed = state.parts.filter { number, part in part.etag != nil && listed[number] == part.etag }
            } catch S3Error.notFound(_, _) {
                state = .init()  // the upload is gone (aborted or expired): start it again
            }
        }
        if state.uploadID == nil {
            state.uploadID = try await client.createMultipartUpload(key)
            ledger.files[file.path] = state
            try ledger.write(in: directory)
        }
        let uploadID = state.uploadID!
        state.parts = landed
        let count = Int((file.bytes + partSize - 1) / partSize)
        var hashes = [String](repeating: "", count: count)
        let whole = SHA256Digest()
        let client = self.client
        func record(_ number: Int, _ part: TransferLedger.Part, bytes: Int64) throws {
            state.parts[number] = part
            ledger.files[file.path] = state
            try ledger.write(in: directory)
            progress.advance(by: bytes)
            CrashHook.shared.check(step: JournalStep.registryPart.rawValue, phase: .after)
        }
        try await withThrowingTaskGroup(of: (Int, TransferLedger.Part, Int64).self) { group in
            var inFlight = 0
            for number in 1...count {
                let offset = Int64(number - 1) * partSize
                let data = try PartIO.read(fd, offset: offset, length: min(partSize, file.bytes - offset), path: file.source)
                whole.update(data)
                let sha = Digests.sha256Hex(data)
                hashes[number - 1] = sha
                if landed[number]?.sha256 == sha {
                    progress.advance(by: Int64(data.count))
                    continue
                }
                if inFlight == config.parallel, let (n, part, bytes) = try await group.next() {
                    try record(n, part, bytes: bytes)
                    inFlight -= 1
                }
                group.addTask {
                    let etag = try await client.uploadPart(key, uploadID: uploadID, number: number, body: data, sha256: sha)
                    return (number, TransferLedger.Part(etag: etag, sha256: sha), Int64(data.count))
                }
                inFlight += 1
            }
            while let (n, part, bytes) = try await group.next() { try record(n, part, bytes: bytes) }
        }
        let parts = state.parts.sorted { $0.key < $1.key }.map { (number: $0.key, etag: $0.value.etag ?? "") }
        try await client.completeMultipartUpload(key, uploadID: uploadID, parts: parts)
        return (Digests.hex(whole.finalize()), hashes)
    }

    static func encode(_ manifest: SnapshotManifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(manifest)
    }
}
