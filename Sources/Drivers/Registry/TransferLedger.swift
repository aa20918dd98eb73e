import Foundation
import Reconciler

/// What a transfer has done so far, written after every part that lands: which files are
/// complete, and for a multipart upload its id and each landed part's ETag and SHA-256.
/// A restart after a crash reads it and continues where it stopped, instead of sending
/// or fetching again what is already there. It lives beside the snapshot (or the pull's
/// temporary folder) and goes when the transfer completes.
struct TransferLedger: Codable, Sendable {
    static let file = ".registry-transfer.json"

    enum Direction: String, Codable, Sendable { case push, pull }

    struct Part: Codable, Sendable, Equatable {
        var etag: String?
        var sha256: String
    }

    struct FileProgress: Codable, Sendable {
        var uploadID: String?
        var parts: [Int: Part] = [:]
        /// Set once the file is whole in its destination (object completed, or download checked).
        var done = false
        var sha256: String?
        var partHashes: [String]?
    }

    var direction: Direction
    /// `ORG/NAME` and the store: a ledger for another place is not resumed.
    var location: String
    var store: String
    /// Parts are numbered by this size: a ledger cut at another size is not resumed.
    var partSize: Int64
    /// A pull resumes only against the same remote manifest.
    var manifestSHA256: String?
    var files: [String: FileProgress] = [:]

    func matches(_ direction: Direction, _ location: String, _ store: String, partSize: Int64) -> Bool {
        self.direction == direction && self.location == location && self.store == store && self.partSize == partSize
    }

    static func read(in directory: String) -> TransferLedger? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)") else { return nil }
        return try? JSONDecoder().decode(TransferLedger.self, from: data)
    }

    func write(in directory: String) throws { try AtomicFile.writeJSON(self, to: "\(directory)/\(Self.file)") }

    static func remove(in directory: String) throws { try AtomicFile.remove("\(directory)/\(file)") }
}

/// `registry.json` beside a snapshot: its `RegistryRecord`, what observation reads.
enum RegistryRecordFile {
    static let file = "registry.json"

    static func read(in directory: String) -> RegistryRecord? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)") else { return nil }
        return try? JSONDecoder().decode(RegistryRecord.self, from: data)
    }

    static func write(_ record: RegistryRecord, in directory: String) throws {
        try AtomicFile.writeJSON(record, to: "\(directory)/\(file)")
    }
}
