import Foundation
import Glibc

/// Paths as every part of Converge records them.
public enum Paths {
    /// `path` made absolute against the working directory, so that sockets, disks and
    /// backing files recorded now stay valid from any working directory later.
    public static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }

    /// `path` with every link resolved (realpath(3)), or nil when it does not exist.
    public static func resolved(_ path: String) -> String? {
        guard let c = realpath(path, nil) else { return nil }
        defer { free(c) }
        return String(cString: c)
    }
}
