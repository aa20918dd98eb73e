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

    static func read(_ path: String) -> SandboxRecord? {
        guard let data = FileManager.default.contents(atPath: path),
              let record = try? JSONDecoder().decode(SandboxRecord.self, from: data), record.owner == "converge" else { return nil }
        return record
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: path)
    }
}
