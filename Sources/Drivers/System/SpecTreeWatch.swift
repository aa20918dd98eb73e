import CSystemShim
import Foundation
import Glibc

/// The inotify watches of one spec tree, kept right when the tree is reached through
/// symlinks that sync engines swap.
///
/// GitOps engines publish a new revision by swapping a symlink, not by writing files:
/// git-sync renames a new `ROOT/current` link over the old one, and a Kubernetes
/// ConfigMap or Secret volume renames `DIR/..data` onto a new timestamped directory that
/// the top-level `DIR/NAME.yaml` links go through. A watch on a directory follows its
/// inode, not its name, so after a swap it would keep reporting the old revision's
/// directory and miss the new one. So besides every directory of the tree (any event
/// counts), this watches the directory holding each symlink met on the way — on the path
/// to the tree, or on the way from a spec file to its content — for events on the link's
/// name only, and, for a spec file reached through links, its target's directory for that
/// file's name. `refresh()` resolves everything again after a change: it watches the new
/// target and drops the watches of directories no longer reached, so edits to an old
/// revision left on disk wake nothing.
///
/// Not thread-safe: one owner (`EventWaiter`) calls it from one thread at a time.
final class SpecTreeWatch {
    /// What matters in one watched directory.
    enum Interest: Equatable {
        /// A directory of the tree: every event.
        case all
        /// A directory holding links (or linked files): events on these names only.
        case names(Set<String>)
    }

    private let inotify: Int32
    private let directory: String
    private var watches: [Int32: Interest] = [:]  // watch descriptor → interest

    /// - Parameters:
    ///   - inotify: an inotify descriptor the caller owns and polls.
    ///   - directory: the spec directory as given (it may be, or go through, a symlink).
    init(inotify: Int32, directory: String) {
        self.inotify = inotify
        self.directory = directory
        refresh()
    }

    /// The directories currently watched, by real path, with their interest (for tests and logs).
    private(set) var watched: [String: Interest] = [:]

    /// The real path the spec directory resolved to at the last refresh; nil when it could not be reached.
    private(set) var root: String?

    /// Resolves the tree again, watches what is now reached and stops watching the rest.
    /// Idempotent. A directory that vanishes in between is simply not watched: its
    /// parent's event brings the next refresh.
    func refresh() {
        let (plan, root) = Self.plan(directory)
        self.root = root
        var next: [Int32: Interest] = [:]
        var reached: [String: Interest] = [:]
        for (path, interest) in plan {
            let wd = cvg_inotify_watch_tree_events(inotify, path)
            guard wd >= 0 else { continue }
            // Two paths to one inode (a bind mount, a hard-to-see alias) share a descriptor.
            next[wd] = Self.merge(next[wd], interest)
            reached[path] = interest
        }
        for wd in watches.keys where next[wd] == nil {
            // EINVAL when the kernel already dropped it (its directory was removed): fine.
            _ = inotify_rm_watch(inotify, wd)
        }
        watches = next
        watched = reached
    }

    /// Reads every queued event; true when one of them concerns the spec tree. Events of
    /// descriptors removed by `refresh()` (and their IN_IGNORED) are not.
    func drainRelevant() -> Bool {
        var relevant = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(inotify, &buffer, buffer.count)
            guard n > 0 else { return relevant }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                // struct inotify_event: int wd; uint32 mask, cookie, len; char name[len] (NUL-padded).
                while offset + 16 <= n {
                    let wd = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = raw[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }
                    offset += 16 + length
                    if !relevant && isRelevant(wd: wd, mask: mask, name: String(decoding: nameBytes, as: UTF8.self)) { relevant = true }
                }
            }
        }
    }

    private func isRelevant(wd: Int32, mask: UInt32, name: String) -> Bool {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 { return true }  // events were lost: assume a change
        switch watches[wd] {
        case nil: return false
        case .all: return true
        case .names(let names):
            // The directory itself going away moves whatever it held.
            return names.contains(name) || mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0
        }
    }

    private static func merge(_ a: Interest?, _ b: Interest) -> Interest {
        switch (a, b) {
        case (nil, _): b
        case (.all, _), (_, .all): .all
        case (.names(let x), .names(let y)): .names(x.union(y))
        }
    }

    // MARK: - What to watch

    /// Every directory to watch for `directory`, by real path: the tree's directories
    /// (`.all`, names starting with `.` skipped as the spec loader skips them), and the
    /// directories holding the links on the way (`.names`).
    static func plan(_ directory: String) -> (watches: [String: Interest], root: String?) {
        var links: [String: Set<String>] = [:]
        var tree: Set<String> = []
        let root = resolve(directory, links: &links)
        var pending = root.map { [$0] } ?? []
        while let dir = pending.popLast() {
            guard tree.insert(dir).inserted else { continue }  // a link loop, or two links to one directory
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !entry.hasPrefix(".") {
                let path = dir == "/" ? "/\(entry)" : "\(dir)/\(entry)"
                switch fileType(path) {
                case S_IFDIR: pending.append(path)
                case S_IFLNK:
                    guard let target = resolve(path, links: &links) else { continue }
                    if fileType(target) == S_IFDIR { pending.append(target) } else {
                        // A linked spec file (ConfigMap: NAME.yaml -> ..data/NAME.yaml): its content lives there.
                        let (parent, name) = split(target)
                        links[parent, default: []].insert(name)
                    }
                default: continue
                }
            }
        }
        var plan = links.mapValues { Interest.names($0) }
        for dir in tree { plan[dir] = .all }
        return (plan, root)
    }

    /// Follows `path` one component at a time, as the kernel does, and records in `links`
    /// the directory and name of every symlink met, and of the first missing component (so
    /// that its creation is seen). Returns the real path, or nil when it cannot be reached.
    static func resolve(_ path: String, links: inout [String: Set<String>]) -> String? {
        var current = "/"
        if !path.hasPrefix("/") {
            guard let cwd = FileManager.default.currentDirectoryPath.removingSymlinks else { return nil }
            current = cwd
        }
        var pending = Array(path.split(separator: "/").map(String.init).reversed())
        var hops = 0
        while let component = pending.popLast() {
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                current = split(current).parent
                continue
            }
            let candidate = current == "/" ? "/\(component)" : "\(current)/\(component)"
            switch fileType(candidate) {
            case nil:
                links[current, default: []].insert(component)
                return nil
            case S_IFLNK:
                links[current, default: []].insert(component)
                hops += 1
                // The kernel's own limit (ELOOP after 40 links).
                guard hops <= 40, let target = readLink(candidate) else { return nil }
                if target.hasPrefix("/") { current = "/" }
                pending += target.split(separator: "/").map(String.init).reversed()
            default:
                current = candidate
            }
        }
        return current
    }

    /// The S_IFMT bits of `path` itself (lstat), or nil when it does not exist.
    private static func fileType(_ path: String) -> mode_t? {
        var info = stat()
        guard (try? sys("lstat(\(path))") { lstat(path, &info) }) != nil else { return nil }
        return info.st_mode & S_IFMT
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard let n = try? sys("readlink(\(path))", { readlink(path, &buffer, buffer.count - 1) }) else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func split(_ path: String) -> (parent: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let parent = path[..<slash]
        return (parent.isEmpty ? "/" : String(parent), String(path[path.index(after: slash)...]))
    }
}

private extension String {
    /// The real path of an existing directory (realpath(3)).
    var removingSymlinks: String? {
        guard let real = realpath(self, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }
}
