import Foundation

/// Finds the spec files of a directory tree. Every directory is read once, however many
/// links lead to it, so a link loop (`loop -> .`) neither recurses nor reads files twice.
/// A spec-named entry that cannot be a file to read (a dangling link, a FIFO) is listed
/// as unreadable, never skipped: a skipped file would read as "deleted".
enum SpecTree {
    enum Entry: Equatable {
        /// A regular file to read.
        case file(String)
        /// A spec-named entry that is not a readable regular file, and why.
        case unreadable(String, reason: String)

        var path: String {
            switch self {
            case .file(let p), .unreadable(let p, _): p
            }
        }
    }

    /// Where a directory lives on disk, so that each one is read once.
    private struct DirectoryID: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// Every spec-named entry under `directory`, sorted by path.
    /// - Throws: `SpecDirectoryError` when `directory` or a directory inside it cannot be listed.
    static func entries(in directory: String) throws -> [Entry] {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw SpecDirectoryError(path: directory, reason: errno == ENOENT ? "no such directory" : String(cString: strerror(errno)))
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw SpecDirectoryError(path: directory, reason: "not a directory") }
        let base = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        var result: [Entry] = []
        var visited: Set<DirectoryID> = []
        var pending = [base]
        while let dir = pending.popLast() {
            guard stat(dir, &st) == 0, visited.insert(DirectoryID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))).inserted else { continue }
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
                throw SpecDirectoryError(path: dir, reason: "\(error.localizedDescription)")
            }
            for name in names where !name.hasPrefix(".") {
                let path = "\(dir)/\(name)"
                guard stat(path, &st) == 0 else {
                    if SpecLoader.isSpecFile(name) { result.append(.unreadable(path, reason: brokenEntry(path, errno: errno))) }
                    continue  // a broken entry with another name is not a spec
                }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: pending.append(path)
                case S_IFREG: if SpecLoader.isSpecFile(name) { result.append(.file(path)) }
                default:
                    if SpecLoader.isSpecFile(name) {
                        result.append(.unreadable(path, reason: "it is \(fileType(st.st_mode)), not a regular file; a spec must be a regular file"))
                    }
                }
            }
        }
        return result.sorted { $0.path < $1.path }
    }

    /// Why `stat` failed on `path`: for a link, where it points.
    private static func brokenEntry(_ path: String, errno code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length >= 0 else { return "\(String(cString: strerror(code))); check that it exists and its permissions" }
        let target = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if code == ELOOP { return "symlink loop → \(target); point the link at a file" }
        if code == ENOENT { return "dangling symlink → \(target); the usual cause is a sync that has not delivered it yet" }
        return "symlink → \(target): \(String(cString: strerror(code))); check the target's permissions"
    }

    /// A short name of a non-regular file type, for messages.
    static func fileType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a directory"
        default: "a special file"
        }
    }
}
