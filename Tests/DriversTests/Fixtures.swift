@testable import Drivers
import Foundation
import Glibc
import Reconciler
import Resources

/// Locates executables built by this package (the simulator, converge) next to the
/// test binary, or through an environment override.
enum BuiltProducts {
    static func path(_ name: String, override: String? = nil) -> String? {
        if let override, let value = ProcessInfo.processInfo.environment[override], !value.isEmpty { return value }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = url.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url = url.deletingLastPathComponent()
        }
        return nil
    }

    static var simulator: String { path("cloud-hypervisor-sim", override: "CH_SIM_BINARY") ?? "cloud-hypervisor-sim-not-built" }
}

/// A throwaway host: state directory with a kernel placeholder and a qcow2 base image,
/// pointed at the simulator. On release it kills, by PID, every VMM it recorded, and
/// removes everything.
final class SimHost: @unchecked Sendable {
    let root: String
    let config: HostConfig
    var runtime: CloudHypervisor.Runtime

    init(environment: [String: String] = [:]) throws {
        root = "/tmp/cvg-drv-\(UUID().uuidString.prefix(8).lowercased())"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/ch/kernels", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)/ch/images", withIntermediateDirectories: true)
        try Data("kernel".utf8).write(to: URL(fileURLWithPath: "\(root)/ch/kernels/vmlinux"))
        let result = try Spawn.runToCompletion(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "\(root)/ch/images/base.qcow2", "1G"])
        guard result.status == 0 else { throw HostSetupError(message: result.stderr) }
        config = HostConfig(stateDirectory: root, values: ["CH_BINARY": BuiltProducts.simulator])
        runtime = CloudHypervisor.Runtime(config: config)
        runtime.vmmEnvironment = environment
    }

    deinit {
        for pid in recordedPIDs() { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: root)
    }

    func recordedPIDs() -> [Int32] {
        let dir = "\(root)/ch/sandboxes"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return entries.compactMap { entry in
            guard let data = FileManager.default.contents(atPath: "\(dir)/\(entry)/converge.json"),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let process = json["process"] as? [String: Any], let pid = process["pid"] as? Int else { return nil }
            return Int32(pid)
        }
    }

    /// Every file under the CH directories except the kernel and base image.
    func leftovers() -> [String] {
        let fm = FileManager.default
        var found: [String] = []
        for dir in ["\(root)/ch/sandboxes", "\(root)/ch/sockets"] {
            for entry in (fm.enumerator(atPath: dir)?.allObjects as? [String]) ?? [] { found.append("\(dir)/\(entry)") }
        }
        return found
    }

    func config(memory: Quantity = .gibibytes(1), cpus: Int = 1, limits: ResourceLimits? = nil, disk: Quantity = .gibibytes(4),
                image: String = "base", balloonPolicy: String? = nil) -> SandboxConfig {
        SandboxConfig(resolving: SandboxSpec(cpus: cpus, memory: memory, disk: disk, limits: limits, source: .image(image),
                                             balloonPolicy: balloonPolicy),
                      defaults: HostDefaults())
    }
}

struct HostSetupError: Error { var message: String }


/// Waits until `process` has exited (and is reaped, if it is our child), for at most
/// `timeout` seconds. SIGKILL is delivered asynchronously: a test that kills a VMM waits
/// here before it observes.
/// - Returns: false if it is still alive at the deadline.
func waitUntilGone(_ process: ProcessIdentity, timeout: Double = 10) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while ProcFS.isAlive(process) {
        guard Date() < deadline else { return false }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    return true
}
