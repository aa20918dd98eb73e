import Foundation
import Reconciler
import Resources

extension CloudHypervisor {
    /// Where a sandbox's files live. Every name starts with `cvg-`, so Converge's objects
    /// are told apart from a runner's in shared directories, and the metadata file inside
    /// the sandbox directory says whose they are.
    public struct Layout: Sendable {
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
        public func socket(_ name: String) -> String { "\(socketsDirectory)/\(Self.prefix)\(name).sock" }
        /// The VM's hybrid vsock socket, through which Converge reaches the guest agent.
        public func vsock(_ name: String) -> String { "\(socketsDirectory)/\(Self.prefix)\(name).vsock" }
        /// CH locks `SOCK.lock` for its lifetime (cloud-hypervisor-api.md, "Process and socket").
        public func socketLock(_ name: String) -> String { socket(name) + ".lock" }

        /// Names of the sandboxes that have a directory here, with or without metadata.
        func sandboxDirectoryNames() -> [String] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: sandboxesDirectory)) ?? []
            return entries.filter { $0.hasPrefix(Self.prefix) }.map { String($0.dropFirst(Self.prefix.count)) }.sorted()
        }

        /// Names that have a socket or lock file here.
        func socketNames() -> [String] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: socketsDirectory)) ?? []
            return Set(entries.compactMap { entry -> String? in
                guard entry.hasPrefix(Self.prefix) else { return nil }
                if entry.hasSuffix(".sock") { return String(entry.dropFirst(Self.prefix.count).dropLast(5)) }
                if entry.hasSuffix(".sock.lock") { return String(entry.dropFirst(Self.prefix.count).dropLast(10)) }
                return nil
            }).sorted()
        }
    }

    /// The record kept beside every sandbox: written before anything it names is made,
    /// removed after everything it names is gone. It is how a restart (or a lost
    /// database) finds what Converge owns.
    public struct Metadata: Codable, Sendable, Equatable {
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

        static func read(_ path: String) -> Metadata? {
            guard let data = FileManager.default.contents(atPath: path),
                  let m = try? JSONDecoder().decode(Metadata.self, from: data), m.owner == "converge" else { return nil }
            return m
        }

        func write(to path: String) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(self), to: path)
        }
    }
}
