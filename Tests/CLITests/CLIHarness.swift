import Foundation
import Glibc
@testable import Drivers

/// Runs the built `converge` binary against a throwaway state directory that points at
/// the bundled simulator. Kills, by PID, every VMM it recorded when released.
final class CLIHarness: @unchecked Sendable {
    let root: String
    let specs: String
    let state: String
    /// Network objects of this run start with it, so tests never touch another run's.
    let netPrefix: String
    /// Another harness made the prefix and cleans up its objects.
    private let borrowsPrefix: Bool
    /// Its own 10.X.0.0/16, so harnesses of suites running in parallel never share addresses.
    let subnetOctet = Int.random(in: 100...199)
    var subnet: String { "10.\(subnetOctet).0.0/16" }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    /// - Parameter prefix: another harness's network prefix, to play a second state
    ///   directory on the same host (that harness removes the prefix's objects).
    init(sharingPrefixOf other: CLIHarness? = nil) throws {
        netPrefix = other?.netPrefix ?? "c" + String((0..<4).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        borrowsPrefix = other != nil
        root = "/tmp/cvg-cli-\(UUID().uuidString.prefix(8).lowercased())"
        specs = "\(root)/specs"
        state = "\(root)/state"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(state)/ch/kernels", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(state)/ch/images", withIntermediateDirectories: true)
        try Data("kernel".utf8).write(to: URL(fileURLWithPath: "\(state)/ch/kernels/vmlinux"))
        var config = "CH_BINARY: \(Self.product("cloud-hypervisor-sim", override: "CH_SIM_BINARY"))\nCONVERGE_NET_PREFIX: \(netPrefix)\n"
        if let guest = TestGuest.found {
            // Real guests for `runtime: qemu`: the kernel and initramfs of scripts/test-guest,
            // and its disk as the image `test-guest`.
            config += "QEMU_KERNEL_PATH: \(guest.kernel)\nQEMU_INITRAMFS_PATH: \(guest.initramfs)\nQEMU_CMDLINE: console=ttyS0 panic=-1 quiet\n"
            try fm.createSymbolicLink(atPath: "\(state)/ch/images/test-guest.qcow2", withDestinationPath: guest.disk)
        }
        try config.write(toFile: "\(state)/config.yaml", atomically: true, encoding: .utf8)
        for image in ["ubuntu-base.1", "ubuntu-base.2"] {
            let r = Self.exec(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "\(state)/ch/images/\(image).qcow2", "1G"])
            precondition(r.status == 0, r.stderr)
        }
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/quickstart").path
        try fm.copyItem(atPath: examples, toPath: specs)
        let network = "\(specs)/network.yaml"
        try (try String(contentsOfFile: network, encoding: .utf8)).replacingOccurrences(of: "10.200.0.0/16", with: subnet)
            .write(toFile: network, atomically: true, encoding: .utf8)
    }

    deinit {
        // Converge's own destroy path first; then anything of this run's naming, by hand.
        let empty = "\(root)/empty-for-cleanup"
        try? FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        _ = converge("apply", empty, "--allow-empty", "--force")
        for pid in vmmPIDs() { kill(pid, SIGKILL) }
        if !borrowsPrefix { NetworkCleanup.remove(prefix: netPrefix) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Extra environment of every `converge` run (the Cuttlefish simulator's root).
    var environment: [String: String] = [:]

    /// `converge ARGS --state STATE`.
    @discardableResult
    func converge(_ args: String...) -> Run {
        converge(args, environment: [:])
    }

    /// `converge ARGS --state STATE` with extra environment (e.g. the crash hook).
    @discardableResult
    func converge(_ args: [String], environment extra: [String: String]) -> Run {
        let merged = environment.merging(extra) { _, new in new }
        return Self.exec([Self.product("converge")] + args + ["--state", state],
                         environment: merged.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(merged) { _, new in new })
    }

    /// Writes `text` as the only spec file of the spec directory.
    func setSpecs(_ text: String) throws {
        try? FileManager.default.removeItem(atPath: specs)
        try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
        try text.replacingOccurrences(of: "10.200.0.0/16", with: subnet).write(toFile: "\(specs)/specs.yaml", atomically: true, encoding: .utf8)
    }

    /// Live processes whose command line names this harness's directory: VMMs it started.
    func ownProcesses() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter { pid in
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !CLIUserStoryHelpers.isZombie(pid) else { return false }
            return String(decoding: cmdline, as: UTF8.self).contains(root)
        }
    }

    func edit(_ file: String, _ from: String, _ to: String) throws {
        let path = "\(specs)/\(file)"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let range = text.range(of: from) else { throw HarnessError(message: "\(from) not in \(file)") }
        try text.replacingCharacters(in: range, with: to).write(toFile: path, atomically: true, encoding: .utf8)
    }

    func vmmPIDs() -> [Int32] {
        ["\(state)/ch/sandboxes", "\(state)/qemu/sandboxes"].flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { entry -> Int32? in
                guard let data = FileManager.default.contents(atPath: "\(dir)/\(entry)/converge.json"),
                      let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let process = json["process"] as? [String: Any], let pid = process["pid"] as? Int else { return nil }
                return Int32(pid)
            }
        }
    }

    /// Files Converge made for sandboxes (sockets, locks, overlays, metadata, logs).
    func leftovers() -> [String] {
        var found: [String] = []
        for dir in ["\(state)/ch/sandboxes", "\(state)/ch/sockets", "\(state)/ch/snapshots", "\(state)/qemu/sandboxes", "\(state)/qemu/sockets",
                    "\(state)/cuttlefish/home"] + cuttlefishRuntimeDirectories {
            for entry in (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? [] { found.append("\(dir)/\(entry)") }
        }
        let instances = "\(state)/cuttlefish/instances"
        found += ((try? FileManager.default.contentsOfDirectory(atPath: instances)) ?? []).filter { $0.hasPrefix("cvg-") }.map { "\(instances)/\($0)" }
        return found + cuttlefishGroups()
    }

    func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    static func product(_ name: String, override: String? = nil) -> String {
        if let override, let v = ProcessInfo.processInfo.environment[override], !v.isEmpty { return v }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = url.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url = url.deletingLastPathComponent()
        }
        return "/nonexistent/\(name)"
    }

    /// Runs `argv` to completion with the project's posix_spawn runner (Foundation's
    /// `Process.waitUntilExit` can spin forever under parallel tests on Linux).
    static func exec(_ argv: [String], environment: [String: String]? = nil) -> Run {
        do {
            let result = try Spawn.runToCompletion(argv, environment: environment)
            return Run(status: result.status, stdout: result.stdout, stderr: result.stderr)
        } catch {
            return Run(status: -1, stdout: "", stderr: "\(error)")
        }
    }
}

struct HarnessError: Error { var message: String }

/// Removes every namespace, link and nftables table whose name starts with a test run's
/// prefix (only those: never anything else on the host).
enum NetworkCleanup {
    static func remove(prefix: String) {
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        for ns in namespaces where ns.hasPrefix(prefix + "-") { _ = CLIHarness.exec([tool("ip"), "netns", "delete", ns]) }
        for link in links() where link.hasPrefix(prefix) { _ = CLIHarness.exec([tool("ip"), "link", "delete", link]) }
        _ = CLIHarness.exec([tool("nft"), "delete", "table", "ip", "converge_\(prefix)"])
        try? FileManager.default.removeItem(atPath: "/run/converge/prefixes/\(prefix)")
    }

    /// A system tool's path.
    static func tool(_ name: String) -> String { Executables.find(name) ?? name }

    static func links() -> [String] {
        CLIHarness.exec([tool("ip"), "-o", "link", "show"]).stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":")
            guard parts.count > 1 else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first.map(String.init)
        }
    }
}

extension CLIHarness {
    /// `converge ARGS` exactly as given: no `--state` added.
    static func bare(_ args: String...) -> Run { bare(args) }

    static func bare(_ args: [String]) -> Run { exec([product("converge")] + args) }
}
