import Foundation
import Glibc

/// One writer per state directory: `apply` and `run` hold an exclusive lock on
/// STATE/converge.lock for their lifetime; read-only commands do not take it.
final class StateLock {
    private let fd: Int32

    init(stateDirectory: String) throws {
        let path = "\(stateDirectory)/converge.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw CLIError("another converge apply or run is using \(stateDirectory)\(holder.isEmpty ? "" : " (pid \(holder))"); wait for it to finish, or use another --state")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit { close(fd) }
}
