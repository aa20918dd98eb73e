import Foundation
import Glibc

/// Writes files so that a reader (or a crash) sees the old or the new content, never half.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let temporary = "\(path).tmp.\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw SystemError(call: "create(\(temporary))", code: errno)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SystemError(call: "rename(\(temporary), \(path))", code: code)
        }
    }

    /// Removes `path`; an absent file is not an error.
    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw SystemError(call: "unlink(\(path))", code: errno) }
    }
}
