import Foundation

/// One revision of a spec tree. Sync engines swap a whole tree with one `rename` of a
/// symlink: git-sync points `ROOT/current` at a new worktree, a Kubernetes ConfigMap
/// volume points `DIR/..data` at a new timestamped directory (its top-level files are
/// links through `..data`). Both links are resolved once per load, so a swap in the
/// middle of a load never mixes two revisions (a resource moved between files could
/// otherwise vanish for a pass and be destroyed). Paths are still shown as the user
/// gave them.
struct SpecRevision {
    /// The directory as the user named it.
    let given: String
    /// Where it leads, resolved once.
    let root: String
    /// Where `root/..data` leads, resolved once (ConfigMap volumes), if it exists.
    let data: String?

    init(_ directory: String) {
        given = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        root = Self.resolve(given) ?? given
        data = Self.resolve("\(root)/..data")
    }

    /// Whether `other` resolved to the same trees (no swap in between).
    func sameRevision(as other: SpecRevision) -> Bool { root == other.root && data == other.data }

    /// The path to show for `path`, a path found under `root`.
    func shown(_ path: String) -> String {
        guard root != given, path.hasPrefix(root + "/") else { return path }
        return given + path.dropFirst(root.count)
    }

    /// Where to read `path` from: a top-level link through `..data` is read through the
    /// revision of `..data` resolved at the start.
    func source(of path: String) -> String {
        guard let data, path.hasPrefix(root + "/") else { return path }
        let name = path.dropFirst(root.count + 1)
        guard !name.contains("/"), let target = Self.linkTarget(path), target.hasPrefix("..data/") else { return path }
        return data + "/" + target.dropFirst("..data/".count)
    }

    private static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
