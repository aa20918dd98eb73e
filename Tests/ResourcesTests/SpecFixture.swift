import Foundation
@testable import Resources

/// A temporary spec directory, removed when the fixture is released.
final class SpecFixture {
    let directory: String

    init() {
        directory = NSTemporaryDirectory() + "converge-specs-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let path = "\(directory)/\(name)"
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func load() throws -> SpecSet { try SpecLoader.load(directory: directory) }

    /// Loads and returns each diagnostic as `file-name:line:col: message`.
    func errors() throws -> [String] {
        try load().diagnostics.map { "\(($0.file as NSString).lastPathComponent):\($0.mark.line):\($0.mark.column): \($0.message)" }
    }
}

func sandboxYAML(_ name: String, _ spec: String) -> String {
    """
    apiVersion: converge.dev/v1
    kind: Sandbox
    metadata:
      name: \(name)
    spec:
    \(spec.split(separator: "\n").map { "  \($0)" }.joined(separator: "\n"))
    """
}

extension SpecFixture {
    /// Creates a symbolic link `name` (relative to the fixture) pointing at `target` as written.
    func symlink(_ name: String, to target: String) {
        try! FileManager.default.createSymbolicLink(atPath: "\(directory)/\(name)", withDestinationPath: target)
    }

    /// Creates a directory `name` (relative to the fixture).
    func mkdir(_ name: String) {
        try! FileManager.default.createDirectory(atPath: "\(directory)/\(name)", withIntermediateDirectories: true)
    }
}
