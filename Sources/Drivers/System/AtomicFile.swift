import Foundation
import Glibc

/// Writes files so that a reader (or a crash) sees the old or the new content, never half.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError(call: "open(\(temporary))", code: errno) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let code = errno
        close(fd)
        guard written == data.count else {
            unlink(temporary)
            throw SystemError(call: "write(\(temporary))", code: written < 0 ? code : EIO)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SystemError(call: "rename(\(temporary), \(path))", code: code)
        }
    }

    /// Removes the temporary files of writes that a killed process left in `directory`
    /// (`NAME.tmp.PID` whose PID is gone); a live writer's are left alone.
    public static func removeAbandonedTemporaries(in directory: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let marker = entry.range(of: ".tmp.", options: .backwards),
                  let pid = Int32(entry[marker.upperBound...]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink("\(directory)/\(entry)")
        }
    }

    /// Removes `path`; an absent file is not an error.
    public static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw SystemError(call: "unlink(\(path))", code: errno) }
    }
}
