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
        try FileManager.default.createDirectory(atPath: "\(dir.path)/Sandbox", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(dir.path)/Sandbox/left-by-another-process.json"))
        let files = StatusFiles(directory: dir.path)
        try files.write([row("a"), row("b")])
        let a = "\(dir.path)/Sandbox/a.json", b = "\(dir.path)/Sandbox/b.json"
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/Sandbox/left-by-another-process.json"))
        let (inodeA, inodeB) = (try #require(inode(a)), try #require(inode(b)))

        try files.write([row("a"), row("b", ready: "False")])
        #expect(inode(a) == inodeA, "an unchanged row's file was written again")
        #expect(inode(b) != inodeB, "a changed row's file was not rewritten")
        let written = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: b))) as? [String: Any]
        #expect(written?["ready"] as? String == "False")

        try files.write([row("b", ready: "False")])
        #expect(!FileManager.default.fileExists(atPath: a))
        #expect(FileManager.default.fileExists(atPath: b))
    }
}
