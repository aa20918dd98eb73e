import Foundation

/// Where a sandbox's files live, for every runtime. Every name starts with `cvg-`, so
/// Converge's objects are told apart from a runner's in shared directories, and the record
/// inside the sandbox directory says whose they are.
public struct SandboxLayout: Sendable {
    public let sandboxesDirectory: String
    public let socketsDirectory: String

    public static let prefix = "cvg-"
    public static let metadataFile = "converge.json"

    public init(sandboxesDirectory: String, socketsDirectory: String) {
        self.sandboxesDirectory = sandboxesDirectory
        self.socketsDirectory = socketsDirectory
    }

    public func directory(_ name: String) -> String { "\(sandboxesDirectory)/\(Self.prefix)\(name)" }
    public func metadata(_ name: String) -> String { "\(directory(name))/\(Self.metadataFile)" }
    public func disk(_ name: String) -> String { "\(directory(name))/disk.qcow2" }
    public func vmmLog(_ name: String) -> String { "\(directory(name))/vmm.log" }
    public func serialLog(_ name: String) -> String { "\(directory(name))/serial.log" }
    /// Memory and device state of a suspended sandbox (or one being relaunched).
    public func savedState(_ name: String) -> String { "\(directory(name))/memory" }
    /// What a VMM restores from: the saved files, with its config pointed at this sandbox.
    public func restoreDirectory(_ name: String) -> String { "\(directory(name))/restore" }
    /// Frozen disk layers that forks share (P's disk at the moment of a fork), removed once
    /// no disk is built on them. Outside every sandbox directory: a child outlives its parent.
    public var layersDirectory: String { "\(sandboxesDirectory)/.cvg-layers" }
    /// The VMM's control socket (CH's REST API, QEMU's QMP).
    public func socket(_ name: String) -> String { "\(socketsDirectory)/\(Self.prefix)\(name).sock" }
    /// A VMM may lock `SOCK.lock` for its lifetime (CH does).
    public func socketLock(_ name: String) -> String { socket(name) + ".lock" }

    /// Names of the sandboxes that have a directory here, with or without a record.
    func sandboxDirectoryNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: sandboxesDirectory)) ?? []
        return entries.filter { $0.hasPrefix(Self.prefix) }.map { String($0.dropFirst(Self.prefix.count)) }.sorted()
    }
}
