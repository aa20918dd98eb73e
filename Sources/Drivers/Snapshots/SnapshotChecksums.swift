import Foundation
import Glibc

/// Checksums of a snapshot's files for its manifest, through coreutils' `sha256sum`
/// (exec'd with argv). Memory files of large guests are recorded by size only: hashing a
/// sparse 1 GiB memory file costs ~8 s here, and a registry transfer checks its parts
/// itself.
public struct SnapshotChecksums: Sendable {
    /// Files larger than this are recorded by size only.
    public var limit: Int64 = 256 << 20
    let binary: String?
    let runner: any ProcessRunner

    public init(runner: any ProcessRunner = SpawnRunner()) {
        self.binary = Executables.find("sha256sum")
        self.runner = runner
    }

    func entries(in directory: String) async throws -> [SnapshotManifest.FileEntry] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { !SnapshotManifest.ownFiles.contains($0) }.sorted()
        var entries: [SnapshotManifest.FileEntry] = []
        for name in names {
            let path = "\(directory)/\(name)"
            var info = stat()
            guard stat(path, &info) == 0 else { throw SystemError(call: "stat(\(path))", code: errno) }  // links followed
            let size = Int64(info.st_size)
            // A directory of files (Cuttlefish's instance data, cvd's own snapshot) is listed by name.
            if (info.st_mode & S_IFMT) == S_IFDIR {
                entries.append(.init(name: name, bytes: DiskUsage.bytes(under: path), sha256: nil))
                continue
            }
            var sum: String?
            if size <= limit, let binary {
                let result = try await runner.run([binary, "--", path])
                guard result.status == 0 else {
                    throw ProcessError(argv: [binary, path], status: result.status, message: result.stderr)
                }
                sum = result.stdout.split(separator: " ").first.map(String.init)
            }
            entries.append(.init(name: name, bytes: size, sha256: sum))
        }
        return entries
    }
}
