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
