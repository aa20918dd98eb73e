import Drivers
import Foundation
import Reconciler
import Resources

/// Builds the store, the drivers and the reconciler from the global options.
struct Wiring {
    let options: GlobalOptions
    let host: HostConfig
    let store: Store
    let reconciler: Reconciler

    init(_ options: GlobalOptions) throws {
        self.options = options
        let state = options.stateDirectory
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        do {
            host = try HostConfig.load(stateDirectory: Self.absolute(state), file: options.configFile)
        } catch let diagnostic as Diagnostic {
            let source = (try? String(contentsOfFile: diagnostic.file, encoding: .utf8))
            throw CLIError(diagnostic.rendered(source: source))
        }
        store = try Store(path: "\(state)/converge.db")
        let network = SlotNetwork(directory: host.networkRecords, prefix: try host.networkPrefix())
        var ch = CloudHypervisor.Runtime(config: host)
        ch.network = network
        ch.apiTimeout = try host.chAPITimeout()
        ch.guestAgentPort = try host.chGuestAgentPort()
        reconciler = Reconciler(store: store, runtimes: [ch], network: network,
                                snapshots: UnimplementedSnapshots(), defaults: try host.defaults())
    }

    /// Absolute, so that sockets and disks recorded in metadata stay valid from any cwd.
    static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.standardizedFileURL.path
    }
}

/// An error already phrased for the user.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
