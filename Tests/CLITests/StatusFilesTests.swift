import Foundation
import Glibc
import TestSupport
import Testing
@testable import ConvergeCLI

/// The daemon's status files: rewritten only when their contents change, removed when
/// their resource is gone, and a first pass clears what an earlier process left.
@Suite("Status files of the daemon")
struct StatusFilesTests {
    func row(_ name: String, ready: String = "True") -> StatusRow {
        StatusRow(kind: "Sandbox", name: name, applied: true, ready: ready, reason: ready == "True" ? "Converged" : "ActionFailed", conditions: [])
    }

    func inode(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    @Test("unchanged rows leave their files alone; a changed row is rewritten; a gone resource's file is removed")
    func writesOnlyChanges() throws {
        let dir = TemporaryDirectory("cvg-status")
        let status = "\(dir.path)/status", spares = "\(dir.path)/.status-spare"
        try FileManager.default.createDirectory(atPath: "\(status)/Sandbox", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(status)/Sandbox/left-by-another-process.json"))
        let files = StatusFiles(directory: status, spares: spares)
        try files.write([row("a"), row("b")])
        let a = "\(status)/Sandbox/a.json", b = "\(status)/Sandbox/b.json"
        #expect(!FileManager.default.fileExists(atPath: "\(status)/Sandbox/left-by-another-process.json"))
        let (inodeA, inodeB) = (try #require(inode(a)), try #require(inode(b)))

        try files.write([row("a"), row("b", ready: "False")])
        #expect(inode(a) == inodeA, "an unchanged row's file was written again")
        #expect(inode(b) != inodeB, "a changed row's file was not rewritten")
        #expect(try readyField(b) == "False")

        // Rewritten again and again, the file trades places with its spare: two inodes,
        // no new one, and each time the whole new content.
        let secondB = try #require(inode(b))
        for (i, ready) in ["True", "False", "True"].enumerated() {
            try files.write([row("a"), row("b", ready: ready)])
            #expect(try readyField(b) == ready)
            #expect(inode(b) == (i % 2 == 0 ? inodeB : secondB), "write \(i): a new inode")
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: "\(status)/Sandbox")) == ["a.json", "b.json"], "spares stay out of the status directory")

        // Spares removed behind the daemon's back: the next change is still written.
        try FileManager.default.removeItem(atPath: spares)
        try files.write([row("a"), row("b", ready: "False")])
        #expect(try readyField(b) == "False")

        try files.write([row("b", ready: "False")])
        #expect(!FileManager.default.fileExists(atPath: a))
        #expect(!FileManager.default.fileExists(atPath: "\(spares)/Sandbox/a.json"), "a gone resource's spare was left behind")
        #expect(FileManager.default.fileExists(atPath: b))
    }

    func readyField(_ path: String) throws -> String? {
        (try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])?["ready"] as? String
    }
}
