import Foundation
import Resources
import Testing
@testable import DaytonaBridge

@Suite("Daytona job translation")
struct JobTranslatorTests {
    static func job(_ type: Daytona.JobType, _ id: String = "3f2a9c1e-0000-4000-8000-000000000001", payload: String? = nil) -> Daytona.Job {
        Daytona.Job(id: "job-1", type: type, resourceId: id, payload: payload)
    }

    @Test("CREATE_SANDBOX becomes a Sandbox spec: cores, GiB, image name, linux-vm runtime")
    func create() throws {
        let plan = try JobTranslator().plan(Self.job(.createSandbox, payload: """
            {"id":"3f2a9c1e-0000-4000-8000-000000000001","snapshot":"daytonaio/sandbox:0.4","cpuQuota":2,"memoryQuota":4,"storageQuota":10,"sandboxClass":"linux-vm","userId":"o","osUser":"u"}
            """), current: [:])
        guard case .put(let file, let text) = plan.changes.first else { Issue.record("no write"); return }
        #expect(file == "sandbox-3f2a9c1e-0000-4000-8000-000000000001.yaml")
        #expect(text.contains("cpus: 2") && text.contains("memory: \"4Gi\"") && text.contains("disk: \"10Gi\""))
        #expect(text.contains("source: {image: \"daytonaio_sandbox_0.4\"}"))
        #expect(plan.goal == .sandbox(name: "3f2a9c1e-0000-4000-8000-000000000001", state: .running))
        #expect(plan.result == .daemonVersion)
    }

    @Test("registry jobs and unknown types are refused with a message naming the type")
    func refused() {
        for type in [Daytona.JobType.pullSnapshot, .removeSnapshot, .inspectSnapshotInRegistry, .createBackup, .unknown("NEW_THING")] {
            #expect(throws: JobRefused.self) { try JobTranslator().plan(Self.job(type, payload: "{}"), current: [:]) }
            do { _ = try JobTranslator().plan(Self.job(type, payload: "{}"), current: [:]) } catch {
                #expect("\(error)".contains("\(type)"))
            }
        }
    }
}

@Suite("Daytona job types: every one is planned or refused")
struct DaytonaJobCoverageTests {
    static let a = "3f2a9c1e-0000-4000-8000-000000000001"
    static var existing: [ResourceID: Resource] {
        let spec = SandboxSpec(cpus: 1, memory: .gibibytes(1), source: .image("ubuntu-base.1"))
        return [ResourceID(.sandbox, a): Resource(name: a, body: .sandbox(spec), origin: Origin(file: "x.yaml", mark: .start))]
    }

    /// One row per type of the reference (§3.1): what the bridge does with it. A type the
    /// table misses fails the test, so a new type cannot slip through as "completed".
    static let expected: [Daytona.JobType: (payload: String?, planned: Bool)] = [
        .createSandbox: ("{\"id\":\"\(a)\",\"snapshot\":\"ubuntu-base.1\"}", true),
        .startSandbox: ("{}", true), .stopSandbox: ("{}", true), .pauseSandbox: ("{\"sandboxId\":\"\(a)\"}", true),
        .destroySandbox: (nil, true), .resizeSandbox: ("{\"cpu\":2}", true),
        .forkSandbox: ("{\"sourceSandboxId\":\"\(a)\",\"newSandboxId\":\"b\"}", true),
        .snapshotSandbox: ("{\"sandboxId\":\"\(a)\",\"name\":\"s\",\"includeMemory\":true}", true),
        .pullSnapshot: ("{\"snapshot\":\"x\"}", false), .removeSnapshot: (nil, false), .inspectSnapshotInRegistry: ("{\"snapshot\":\"x\"}", false),
        .createBackup: ("{}", false), .buildSnapshot: ("{}", false), .recoverSandbox: ("{}", false), .updateSandboxNetworkSettings: ("{}", false),
    ]

    @Test("each of the reference's 15 job types has a row, and does what the row says")
    func everyType() throws {
        #expect(Daytona.JobType.allKnown.count == 15)
        for type in Daytona.JobType.allKnown {
            let row = try #require(Self.expected[type], "no row for \(type)")
            let job = Daytona.Job(id: "j", type: type, resourceId: Self.a, payload: row.payload)
            let plan = Result { try JobTranslator().plan(job, current: Self.existing) }
            if row.planned {
                #expect((try? plan.get()) != nil, "\(type): \(plan)")
            } else {
                #expect((try? plan.get()) == nil, "\(type) must be refused")
            }
        }
    }

    @Test("the loader reads the allow-empty marker only while it is in the directory")
    func marker() throws {
        let dir = NSTemporaryDirectory() + "daytona-marker-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try SpecLoader.load(directory: dir).emptyIntended == false)
        try SpecDirectory(path: dir).prepare()
        let loaded = try SpecLoader.load(directory: dir)
        #expect(loaded.emptyIntended && loaded.fileCount == 0 && loaded.isValid)
        try FileManager.default.removeItem(atPath: "\(dir)/\(SpecSet.allowEmptyMarker)")
        #expect(try SpecLoader.load(directory: dir).emptyIntended == false)
    }
}
