import Foundation
import Glibc
import Reconciler
import Resources
import TestSupport
import Testing
@testable import Drivers

/// Records are decoded once per version of their file: what changes the file is read again.
@Suite("Sandbox records: decoded again only when their file changes")
struct RecordCacheTests {
    func record(_ state: PowerState, cpus: Int = 1) -> SandboxRecord {
        var config = SandboxConfig(resolving: SandboxSpec(source: .image("base")), defaults: HostDefaults())
        config.cpus = cpus
        return SandboxRecord(name: "r", config: config, intendedState: state, process: nil, socket: "/tmp/r.sock", createdAt: 1)
    }

    @Test("a record rewritten by Converge is read as written, every time")
    func rewrittenByConverge() throws {
        let dir = TemporaryDirectory("cvg-record-cache")
        let path = "\(dir.path)/converge.json"
        for (i, state) in [PowerState.running, .paused, .stopped, .running, .paused].enumerated() {
            try record(state, cpus: 1 + i % 2).write(to: path)
            #expect(SandboxRecord.read(path) == record(state, cpus: 1 + i % 2))
            #expect(SandboxRecord.read(path) == record(state, cpus: 1 + i % 2))  // the cached answer
        }
    }

    @Test("a record replaced or removed behind Converge's back is seen at the next read")
    func replacedByHand() throws {
        let dir = TemporaryDirectory("cvg-record-cache")
        let path = "\(dir.path)/converge.json"
        try record(.running).write(to: path)
        #expect(SandboxRecord.read(path)?.intendedState == .running)
        // By hand, as an editor saves: another file renamed over it.
        let encoder = JSONEncoder()
        try encoder.encode(record(.stopped, cpus: 4)).write(to: URL(fileURLWithPath: "\(path).new"))
        #expect(rename("\(path).new", path) == 0)
        #expect(SandboxRecord.read(path) == record(.stopped, cpus: 4))
        // Rewritten in place with other contents of another size.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: try encoder.encode(record(.paused, cpus: 16)))
        try handle.close()
        #expect(SandboxRecord.read(path) == record(.paused, cpus: 16))
        #expect(unlink(path) == 0)
        #expect(SandboxRecord.read(path) == nil)
    }
}
