import Foundation
import Glibc

/// Runs the built `converge` binary against a throwaway state directory that points at
/// the bundled simulator. Kills, by PID, every VMM it recorded when released.
final class CLIHarness: @unchecked Sendable {
    let root: String
    let specs: String
    let state: String

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    init() throws {
        root = "/tmp/cvg-cli-\(UUID().uuidString.prefix(8).lowercased())"
        specs = "\(root)/specs"
        state = "\(root)/state"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(state)/ch/kernels", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(state)/ch/images", withIntermediateDirectories: true)
        fm.createFile(atPath: "\(state)/ch/kernels/vmlinux", contents: Data("kernel".utf8))
        try "CH_BINARY: \(Self.product("cloud-hypervisor-sim", override: "CH_SIM_BINARY"))\n".write(toFile: "\(state)/config.yaml", atomically: true, encoding: .utf8)
        for image in ["ubuntu-base.1", "ubuntu-base.2"] {
            let r = Self.exec(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "\(state)/ch/images/\(image).qcow2", "1G"])
            precondition(r.status == 0, r.stderr)
        }
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/quickstart").path
        try fm.copyItem(atPath: examples, toPath: specs)
    }

    deinit {
        for pid in vmmPIDs() { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// `converge ARGS --state STATE`.
    @discardableResult
    func converge(_ args: String...) -> Run {
        Self.exec([Self.product("converge")] + args + ["--state", state])
    }

    func edit(_ file: String, _ from: String, _ to: String) throws {
        let path = "\(specs)/\(file)"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let range = text.range(of: from) else { throw HarnessError(message: "\(from) not in \(file)") }
        try text.replacingCharacters(in: range, with: to).write(toFile: path, atomically: true, encoding: .utf8)
    }

    func vmmPIDs() -> [Int32] {
        let dir = "\(state)/ch/sandboxes"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { entry in
            guard let data = FileManager.default.contents(atPath: "\(dir)/\(entry)/converge.json"),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let process = json["process"] as? [String: Any], let pid = process["pid"] as? Int else { return nil }
            return Int32(pid)
        }
    }

    /// Files Converge made for sandboxes (sockets, locks, overlays, metadata, logs).
    func leftovers() -> [String] {
        var found: [String] = []
        for dir in ["\(state)/ch/sandboxes", "\(state)/ch/sockets"] {
            for entry in (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? [] { found.append("\(dir)/\(entry)") }
        }
        return found
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

    static func exec(_ argv: [String]) -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return Run(status: -1, stdout: "", stderr: "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

struct HarnessError: Error { var message: String }
