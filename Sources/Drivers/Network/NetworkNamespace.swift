import CSystemShim
import Foundation
import Glibc
import Synchronization

/// Named network namespaces, compatible with `ip netns`: each is pinned by a bind mount at
/// /run/netns/NAME. Work inside one runs on a fresh OS thread that enters it and ends with
/// the work, so no thread of the process is ever left in the wrong namespace.
enum NetworkNamespace {
    static let directory = "/run/netns"
    private static let prepared = Mutex(false)

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    static func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    /// True when /run/netns/NAME has a namespace mounted on it (nsfs), not just an empty
    /// file left by a crash between creating the file and mounting on it.
    static func isPinned(_ name: String) -> Bool {
        var pinned = stat(), nsfs = stat()
        guard stat(path(name), &pinned) == 0, stat("/proc/self/ns/net", &nsfs) == 0 else { return false }
        return pinned.st_dev == nsfs.st_dev
    }

    /// Whether process `pid` runs in the namespace pinned as `name` (same nsfs inode): a
    /// namespace deleted and made again under the same name is another namespace.
    static func contains(pid: Int32, _ name: String) -> Bool {
        var pinned = stat(), own = stat()
        guard stat(path(name), &pinned) == 0, stat("/proc/\(pid)/ns/net", &own) == 0 else { return false }
        return pinned.st_dev == own.st_dev && pinned.st_ino == own.st_ino
    }

    /// Names under /run/netns that start with `prefix`.
    static func list(prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Runs `body` inside the namespace `name`; with `create`, in a new namespace pinned as
    /// `name` first. `rootNamespaceFD` (the caller's namespace) is passed to `body`.
    static func run<T: Sendable>(_ name: String, create: Bool = false,
                                 _ body: @escaping @Sendable (_ rootNamespaceFD: Int32) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try enterAndRun(name, create: create, body) })
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private static func enterAndRun<T>(_ name: String, create: Bool, _ body: (Int32) throws -> T) throws -> T {
        let root = try sys("open(/proc/thread-self/ns/net)") { open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) }
        defer { close(root) }
        if create {
            try pin(name)
        } else {
            let fd = open(path(name), O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError(call: "open(\(path(name)))", code: errno) }
            defer { close(fd) }
            guard cvg_setns_net(fd) == 0 else { throw SystemError(call: "setns(\(name))", code: errno) }
        }
        return try body(root)
    }

    /// Gives the calling thread a new namespace and pins it at /run/netns/NAME.
    private static func pin(_ name: String) throws {
        try prepareDirectory()
        let target = path(name)
        let fd = open(target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw SystemError(call: "create(\(target))", code: errno) }
        close(fd)
        guard cvg_unshare_net() == 0 else {
            let code = errno
            unlink(target)
            throw SystemError(call: "unshare(CLONE_NEWNET)", code: code)
        }
        guard cvg_bind_mount("/proc/self/task/\(cvg_gettid())/ns/net", target) == 0 else {
            let code = errno
            unlink(target)
            throw SystemError(call: "mount(bind, \(target))", code: code)
        }
    }

    /// /run/netns exists and is a shared mount, as `ip netns add` leaves it.
    private static func prepareDirectory() throws {
        try prepared.withLock { done in
            guard !done else { return }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard cvg_make_shared(directory) == 0 else { throw SystemError(call: "mount(--make-shared \(directory))", code: errno) }
            done = true
        }
    }

    /// Unpins and removes a namespace; an absent one is not an error. The kernel frees it
    /// once no process lives in it.
    static func delete(_ name: String) throws {
        let target = path(name)
        if cvg_umount(target) != 0 && errno != EINVAL && errno != ENOENT {
            throw SystemError(call: "umount(\(target))", code: errno)
        }
        if unlink(target) != 0 && errno != ENOENT { throw SystemError(call: "unlink(\(target))", code: errno) }
    }
}

extension NetworkNamespace {
    /// Runs `body` on a fresh thread in the root (the process's) namespace.
    static func runInRoot<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run(body)
    }

    /// On the calling thread: enters `name`, runs `body`, and comes back. For threads that
    /// visit many namespaces in a row (observation).
    static func visit<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let root = try sys("open(/proc/thread-self/ns/net)") { open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) }
        defer { close(root) }
        let fd = open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(call: "open(\(path(name)))", code: errno) }
        defer { close(fd) }
        guard cvg_setns_net(fd) == 0 else { throw SystemError(call: "setns(\(name))", code: errno) }
        defer {
            // A shared worker thread left in a slot's namespace would do later work there:
            // stopping is the only safe answer to a failed return.
            if cvg_setns_net(root) != 0 { fatalError("cannot return to the root network namespace (errno \(errno))") }
        }
        return try body()
    }
}
