import Foundation
import Reconciler
import Resources

/// `manifest.json`, Converge's own file beside a snapshot's: what it holds, what it was
/// taken from, and checksums of its files. Written last, so a snapshot directory without
/// one is a capture that did not finish. The file format is stable.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public static let file = "manifest.json"
    /// Written first into a directory Converge makes: what it may remove again.
    public static let marker = ".converge"

    public var owner: String = "converge"
    public var version: Int = 1
    public var name: String
    public var spec: SnapshotSpec
    /// The runtime whose saved state it holds (nil: only a disk, usable by any runtime).
    public var runtime: String?
    public var memory: Bool
    /// The shape of the VM it was taken from: a restore rebuilds exactly this.
    public var config: SandboxConfig?
    /// The guest's identity: a restored guest is a clone with the same MAC, clock and
    /// random state, in whatever slot it lands.
    public var guestMAC: String?
    public var clone: Bool = true
    /// What it was taken from (`sandbox web-1`, `path /srv/base`).
    public var source: String
    /// The files its disk is built on, nearest first, at capture.
    public var parentChain: [String]
    public var files: [FileEntry]
    public var createdAt: Double
    /// In the registry's copy: how its files were cut into parts, with their checksums.
    public var transfer: TransferManifest?

    public struct FileEntry: Codable, Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        /// SHA-256 of the content; nil for files over `SnapshotChecksums.limit`, checked by size.
        public var sha256: String?
    }

    /// Converge's own files in a snapshot's folder, never part of what it holds.
    static let ownFiles: Set<String> = [file, marker, "registry.json", ".registry-transfer.json"]

    public static func read(_ directory: String) -> SnapshotManifest? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)"),
              let manifest = try? JSONDecoder().decode(SnapshotManifest.self, from: data), manifest.owner == "converge" else { return nil }
        return manifest
    }

    func write(to directory: String) throws { try AtomicFile.writeJSON(self, to: "\(directory)/\(Self.file)") }
}

/// A snapshot's files as the registry holds them: cut into parts of `partSize` bytes, with
/// the SHA-256 of each part and of each whole file, checked on pull.
public struct TransferManifest: Codable, Sendable, Equatable {
    public var partSize: Int64
    public var files: [File]

    public struct File: Codable, Sendable, Equatable {
        /// Its path in the snapshot's folder (and under `{org}/{name}/` in the bucket).
        public var path: String
        public var bytes: Int64
        public var sha256: String
        public var parts: [String]
        /// For a disk: the file in the folder it is an overlay on, and that file's format.
        public var backing: String?
        public var backingFormat: String?
    }
}

/// Bytes a directory's files take on disk (links followed: an adopted file counts).
enum DiskUsage {
    static func bytes(under directory: String) -> Int64 {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.reduce(Int64(0)) { total, entry in
            var info = stat()
            guard stat("\(directory)/\(entry)", &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return total }
            return total + Int64(info.st_blocks) * 512
        }
    }
}
