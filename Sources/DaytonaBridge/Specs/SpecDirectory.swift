import Foundation
import Glibc
import Resources

/// The spec directory the bridge feeds: the only place it writes. Writes are atomic
/// (temporary file + rename); temporaries start with "." and end in ".tmp", two reasons
/// for `SpecLoader` to skip them, so the reconciler never reads half a file.
public struct SpecDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Creates the directory and the marker that tells `converge run` an empty set is
    /// intended (the last sandbox destroyed), keeping the guard for hand-written trees.
    public func prepare() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let marker = "\(path)/\(SpecSet.allowEmptyMarker)"
        if !FileManager.default.fileExists(atPath: marker) {
            try write(Data("# Written by `converge daytona`: this directory is fed by the Daytona bridge, so an empty set of specs is intended.\n".utf8),
                      to: marker)
        }
        removeAbandonedTemporaries()
    }

    /// The specs as the reconciler will read them.
    public func load() throws -> SpecSet { try SpecLoader.load(directory: path) }

    /// The current text of `file` (relative), nil when absent.
    func contents(_ file: String) -> String? {
        FileManager.default.contents(atPath: "\(path)/\(file)").map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes `text` to `file` unless it already holds exactly that; returns whether it changed.
    /// Then loads the directory: a file the loader rejects is put back as it was, and its
    /// diagnostics are thrown, so an invalid spec never stays to freeze the directory.
    /// - Throws: `SpecRejected` with the loader's diagnostics; `BridgeIOError`.
    @discardableResult
    func put(_ file: String, _ text: String) throws -> Bool {
        let previous = contents(file)
        if previous == text { return false }
        try write(Data(text.utf8), to: "\(path)/\(file)")
        let specs = try load()
        let mine = specs.diagnostics.filter { ($0.file as NSString).lastPathComponent == file }
        if !mine.isEmpty {
            if let previous { try write(Data(previous.utf8), to: "\(path)/\(file)") } else { try remove(file) }
            throw SpecRejected(file: file, diagnostics: mine.map(\.description))
        }
        return true
    }

    /// Removes `file`; an absent file is not an error.
    func remove(_ file: String) throws {
        if unlink("\(path)/\(file)") != 0 && errno != ENOENT {
            throw BridgeIOError(what: "remove \(path)/\(file)", code: errno)
        }
    }

    private func write(_ data: Data, to target: String) throws {
        let name = (target as NSString).lastPathComponent
        let temporary = "\(path)/.\(name).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BridgeIOError(what: "open \(temporary)", code: errno) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let code = errno
        // The rename must not be seen before the bytes are durable (a crash would leave an empty spec).
        fsync(fd)
        close(fd)
        guard written == data.count else {
            unlink(temporary)
            throw BridgeIOError(what: "write \(temporary)", code: written < 0 ? code : EIO)
        }
        guard rename(temporary, target) == 0 else {
            let code = errno
            unlink(temporary)
            throw BridgeIOError(what: "rename \(temporary)", code: code)
        }
    }

    /// Temporaries of a bridge killed mid-write (`.NAME.PID.tmp` whose PID is gone).
    private func removeAbandonedTemporaries() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where entry.hasPrefix(".") && entry.hasSuffix(".tmp") {
            let parts = entry.dropLast(4).split(separator: ".")
            guard let pid = parts.last.flatMap({ Int32($0) }), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink("\(path)/\(entry)")
        }
    }
}

/// The loader rejected a spec the bridge built; it was not left in the directory.
public struct SpecRejected: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var diagnostics: [String]
    public var description: String { "the spec Converge would run is invalid: \(diagnostics.joined(separator: "; "))" }
}

/// A file operation in the spec directory failed.
public struct BridgeIOError: Error, Sendable, CustomStringConvertible {
    public var what: String
    public var code: Int32
    public var description: String { "\(what): \(String(cString: strerror(code)))" }
}
