import Foundation

/// Finds programs to exec by path (posix_spawn takes a path, and argv never reaches a shell).
public enum Executables {
    /// The first executable `name` in PATH, then in the sbin and bin directories where
    /// Debian puts iproute2 and nftables (often not in a non-login PATH).
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
