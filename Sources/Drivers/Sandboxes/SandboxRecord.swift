import Foundation
import Glibc
import Reconciler
import Resources

/// The record kept beside every sandbox, whatever its runtime: written before anything it
/// names is made, removed after everything it names is gone. It is how a restart (or a
/// lost database) finds what Converge owns. The file format is stable.
public struct SandboxRecord: Codable, Sendable, Equatable {
    public var owner: String = "converge"
    public var version: Int = 1
    public var name: String
    public var config: SandboxConfig
    public var intendedState: PowerState
    public var process: ProcessIdentity?
    public var socket: String
    public var createdAt: Double
    /// The network slot this sandbox claimed, recorded before its VMM starts in it.
    public var slot: NetworkSlot?
    /// Memory and device state the next start restores from instead of booting: its own
    /// (suspended, or mid-relaunch after a snapshot or fork), or a snapshot's / a fork
    /// parent's. Recorded before the VMM that held the memory is stopped, cleared once a
    /// VMM holds it again, so a crash never loses it and never restores it twice.
    public var savedState: SavedState?
    /// A clone's origin (`snapshot S`, `fork of P`): same MAC, clock and random state as it.
    public var cloneOf: String?
    /// A clone whose first restore has not completed: observed as not yet created, so an
    /// interrupted fork is made again rather than booted cold from a half-made disk.
    public var cloning: Bool?
    /// The instance a runtime that allocates its own gave the sandbox (a cvd group and id).
    public var device: DeviceInstance?

    /// Where saved state lives, and whether it is this sandbox's to delete once restored.
    public struct SavedState: Codable, Sendable, Equatable {
        public var directory: String
        public var owned: Bool
    }

    /// The record at `path`, decoded again only when the file changed (another inode, size
    /// or change time) since this process last decoded it: a pass reads a thousand records,
    /// and a balloon pass reads each again to act on it.
    static func read(_ path: String) -> SandboxRecord? {
        // A record already decoded costs one stat: a balloon pass reads a thousand.
        var info = stat()
        if stat(path, &info) == 0, let known = RecordCache.shared.lookup(path, RecordCache.Identity(info)) { return known }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            RecordCache.shared.forget(path)  // removed: its sandbox is gone
            return nil
        }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { return nil }
        let identity = RecordCache.Identity(info)
        if let known = RecordCache.shared.lookup(path, identity) { return known }
        guard let data = try? FileHandle(fileDescriptor: fd, closeOnDealloc: false).readToEnd(),
              let record = try? JSONDecoder().decode(SandboxRecord.self, from: data), record.owner == "converge" else { return nil }
        RecordCache.shared.store(path, identity, record)
        return record
    }

    func write(to path: String) throws {
        // Decoded again at the next read: a file made within the same clock tick as the one
        // it replaces may show the same change time, and even the same inode number.
        RecordCache.shared.forget(path)
        try AtomicFile.writeJSON(self, to: path)
    }
}

/// Records decoded in this process, by path and the identity of the file they came from.
final class RecordCache: @unchecked Sendable {
    struct Identity: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, changeSeconds: Int, changeNanoseconds: Int

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            changeSeconds = info.st_ctim.tv_sec
            changeNanoseconds = info.st_ctim.tv_nsec
        }
    }

    static let shared = RecordCache()
    private var entries: [String: (Identity, SandboxRecord)] = [:]
    private let lock = NSLock()

    func lookup(_ path: String, _ identity: Identity) -> SandboxRecord? {
        lock.lock()
        defer { lock.unlock() }
        guard let (known, record) = entries[path], known == identity else { return nil }
        return record
    }

    func forget(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        entries[path] = nil
    }

    func store(_ path: String, _ identity: Identity, _ record: SandboxRecord) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count > 20_000 { entries.removeAll() }  // a bound, far above a host's sandboxes
        entries[path] = (identity, record)
    }
}
