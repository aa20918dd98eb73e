import Foundation

/// qcow2 overlays through the real `qemu-img`: instant copy-on-write disks whose
/// virtual size is the sandbox's quota.
public struct QemuImg: Sendable {
    public let binary: String
    let runner: any ProcessRunner

    /// - Parameter binary: `qemu-img`'s path; nil looks it up in PATH.
    public init(binary: String? = nil, runner: any ProcessRunner = SpawnRunner()) {
        self.binary = binary ?? Executables.find("qemu-img") ?? "/usr/bin/qemu-img"
        self.runner = runner
    }

    /// What `qemu-img info` says of an image.
    public struct Info: Sendable, Decodable {
        public var format: String
        public var virtualSize: Int64
        public var backingFilename: String?

        enum CodingKeys: String, CodingKey {
            case format
            case virtualSize = "virtual-size"
            case backingFilename = "backing-filename"
        }
    }

    public func info(_ path: String) async throws -> Info {
        let result = try await run(["info", "--output=json", "--force-share", path])
        do { return try JSONDecoder().decode(Info.self, from: Data(result.utf8)) } catch {
            throw ProcessError(argv: [binary, "info", path], status: nil, message: "unexpected output: \(error)")
        }
    }

    /// Creates `path` as a qcow2 overlay on `backing` with `size` bytes of virtual size.
    /// Written to a temporary name and renamed, so a crash never leaves a half-made disk
    /// under the real name.
    /// The overlay is written in process (`QCOW2Overlay`): its format is a small documented
    /// header, and `qemu-img check` in the tests holds it to what qemu-img writes.
    public func createOverlay(at path: String, backing: String, size: Int64) async throws {
        let temporary = path + ".tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try QCOW2Overlay.create(at: temporary, backing: backing, size: size)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)  // a half-written file holds space
            throw error
        }
        guard rename(temporary, path) == 0 else {
            throw SystemError(call: "rename(\(temporary), \(path))", code: errno)
        }
    }

    /// Grows the virtual size of `path` (qcow2) to `size` bytes.
    public func grow(_ path: String, to size: Int64) async throws {
        _ = try await run(["resize", "-q", "-f", "qcow2", path, "\(size)"])
    }

    /// Points the qcow2 `path` at `backing` (a name relative to its folder) without reading
    /// or writing its data: the files are the same, only their place changed.
    public func setBacking(of path: String, to backing: String, format: String) async throws {
        _ = try await run(["rebase", "-u", "-f", "qcow2", "-b", backing, "-F", format, path])
    }

    /// Runs `qemu-img check` (read-only, so it works on a disk a VMM holds) and returns
    /// its report; throws when it finds errors.
    public func check(_ path: String) async throws -> String {
        try await run(["check", "-q", "--force-share", path])
    }

    private func run(_ arguments: [String]) async throws -> String {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ProcessError(argv: [binary], status: nil, message: "qemu-img not found; install it (Debian: apt-get install qemu-utils) or set QEMU_IMG")
        }
        let result = try await runner.run([binary] + arguments)
        guard result.status == 0 else {
            throw ProcessError(argv: [binary] + arguments, status: result.status,
                               message: result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return result.stdout
    }
}
