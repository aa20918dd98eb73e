import Foundation
import Glibc

/// Host-wide ownership of a network prefix. Every namespace, link and nftables table of
/// a state directory's pools carries its prefix (`cvg-POOL-N`), so two state directories
/// with one prefix would take over each other's slots. `/run/converge/prefixes/PREFIX`
/// names the one installation that owns it; it lives in /run like the namespaces, so a
/// reboot clears both.
struct PrefixClaim: Sendable {
    static let registry = "/run/converge/prefixes"

    let prefix: String
    /// This state directory's network records; its `installation-id` file says who we are.
    let recordsDirectory: String

    struct Owner: Codable, Equatable {
        var installation: String
        var recordsDirectory: String
    }

    private var path: String { "\(Self.registry)/\(prefix)" }
    private var idPath: String { "\(recordsDirectory)/installation-id" }

    /// This installation's identity, if it has one yet (written by the first `take`).
    private var installation: String? {
        (try? String(contentsOfFile: idPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// This installation: its id and where its records are (a copied state directory
    /// carries the same id, so the path counts too).
    private var me: Owner? { installation.map { Owner(installation: $0, recordsDirectory: Self.canonical(recordsDirectory)) } }

    /// Throws when another live installation owns the prefix. Writes nothing.
    func check() throws {
        guard let owner = currentOwner(), owner != me, Self.isAlive(owner) else { return }
        throw PrefixOwnedElsewhere(prefix: prefix, owner: owner.recordsDirectory)
    }

    /// Makes this installation the prefix's owner, unless another live one is.
    func take() throws {
        try FileManager.default.createDirectory(atPath: Self.registry, withIntermediateDirectories: true)
        // One taker at a time on the whole host.
        let lock = open("\(Self.registry)/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw SystemError(call: "open(\(Self.registry)/.lock)", code: errno) }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw SystemError(call: "flock(\(Self.registry)/.lock)", code: errno) }
        AtomicFile.removeAbandonedTemporaries(in: Self.registry)  // of a writer killed mid-write
        try check()
        let owner = Owner(installation: try installation ?? newInstallation(), recordsDirectory: Self.canonical(recordsDirectory))
        guard currentOwner() != owner else { return }
        try AtomicFile.write(try JSONEncoder().encode(owner), to: path)
    }

    /// Gives the prefix up when this installation owns it (its last pool is gone).
    func release() throws {
        guard let owner = currentOwner(), owner == me else { return }
        try AtomicFile.remove(path)
    }

    private func currentOwner() -> Owner? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Owner.self, from: $0) }
    }

    private func newInstallation() throws -> String {
        try FileManager.default.createDirectory(atPath: recordsDirectory, withIntermediateDirectories: true)
        let id = UUID().uuidString.lowercased()
        try AtomicFile.write(Data(id.utf8), to: idPath)
        return id
    }

    /// An owner whose state directory is gone, or now holds another installation, owns
    /// nothing any more: its objects are orphans of this prefix.
    private static func isAlive(_ owner: Owner) -> Bool {
        let id = (try? String(contentsOfFile: "\(owner.recordsDirectory)/installation-id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return id == owner.installation
    }

    private static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Another state directory on this host owns the network prefix.
public struct PrefixOwnedElsewhere: Error, Sendable, CustomStringConvertible {
    public var prefix: String
    public var owner: String

    public var description: String {
        "network prefix '\(prefix)' belongs to another state directory on this host (its network records are in \(owner)); "
            + "its namespaces \(prefix)-POOL-N, links and nftables rules are not this state directory's to touch. "
            + "Use that state directory (--state), or give this one its own prefix: CONVERGE_NET_PREFIX in its config.yaml"
    }
}
