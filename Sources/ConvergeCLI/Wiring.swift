import Drivers
import Foundation
import Reconciler
import Resources

/// Builds the store, the drivers and the reconciler from the global options.
struct Wiring {
    /// How a command uses the state directory.
    enum Access {
        /// `apply`, `run`: creates the directory and the database.
        case write
        /// `get`, `status`, `events`: reads an existing database; none is an error.
        case read
        /// `plan`: reads the database when there is one, else plans from an empty one
        /// in memory, so a fresh host still shows what apply would create.
        case readOrEmpty
    }

    let options: GlobalOptions
    let host: HostConfig
    let defaults: HostDefaults
    let store: Store
    let reconciler: Reconciler

    /// - Parameter daemon: a long-lived reconciler (`converge run`): each runtime holds
    ///   handles on its VMM processes, checked all at once between resyncs.
    init(_ options: GlobalOptions, access: Access = .write, daemon: Bool = false) throws {
        self.options = options
        let state = options.stateDirectory
        let database = "\(state)/converge.db"
        // Read-only commands never create anything: a typo in --state must not leave a
        // fresh state directory behind, nor hide that nothing was applied with it.
        switch access {
        case .write:
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            store = try Store(path: database)
        case .read, .readOrEmpty:
            if FileManager.default.fileExists(atPath: database) {
                store = try Store(readingAt: database)
            } else if access == .readOrEmpty {
                store = try Store(path: ":memory:")
            } else {
                throw NoStateYet(directory: state)
            }
        }
        do {
            host = try HostConfig.load(stateDirectory: Paths.absolute(state), file: options.configFile)
        } catch let diagnostic as Diagnostic {
            let source = (try? String(contentsOfFile: diagnostic.file, encoding: .utf8))
            throw CLIError(diagnostic.rendered(source: source))
        }
        defaults = try host.defaults()
        let network = SlotNetwork(directory: host.networkRecords, prefix: try host.networkPrefix())
        var ch = CloudHypervisor.Runtime(config: host)
        ch.network = network
        ch.processes = daemon ? ProcessHandles() : nil
        ch.apiTimeout = try host.chAPITimeout()
        ch.guestAgentPort = try host.chGuestAgentPort()
        var qemu = try QEMU.Runtime(config: host)
        qemu.network = network
        qemu.processes = daemon ? ProcessHandles() : nil
        qemu.apiTimeout = try host.chAPITimeout()
        var cuttlefish = try Cuttlefish.Runtime(config: host)
        cuttlefish.processes = daemon ? ProcessHandles() : nil
        let qemuImg = QemuImg(binary: host.qemuImg)
        var registry: SnapshotRegistry?
        if let config = try RegistryConfig.load(from: host) {
            registry = SnapshotRegistry(config: config, qemuImg: qemuImg)
            registry?.progress = TransferLine.show
        }
        reconciler = Reconciler(store: store, runtimes: [ch, qemu, cuttlefish], network: network,
                                snapshots: SnapshotStore(directory: host.chSnapshots, runtimes: [ch, qemu, cuttlefish], registry: registry),
                                defaults: defaults)
    }
}

/// A read-only command asked about a state directory that holds no database: not an
/// error (CONTRACT §2: get, status and events exit 0), but said, and nothing is created.
struct NoStateYet: Error, CustomStringConvertible {
    var directory: String
    var description: String { "no state in \(directory): nothing has been applied with this state directory (use --state DIR)" }
}

/// An error already phrased for the user.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
