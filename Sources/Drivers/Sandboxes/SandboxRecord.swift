import Foundation
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

    static func read(_ path: String) -> SandboxRecord? {
        guard let data = FileManager.default.contents(atPath: path),
              let record = try? JSONDecoder().decode(SandboxRecord.self, from: data), record.owner == "converge" else { return nil }
        return record
    }

    func write(to path: String) throws { try AtomicFile.writeJSON(self, to: path) }
}
