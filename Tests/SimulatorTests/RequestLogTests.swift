import Foundation
import Testing

@Suite("Request log and schema validation")
struct RequestLogTests {
    /// The repository's `Tests/` folder, found from this source file.
    private static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    /// Drives a representative request sequence through a simulator logging to `log`.
    private func produceLog(_ dir: TempDir, _ log: String, sims: inout [SimProcess]) throws {
        let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_REQUEST_LOG": log])
        sims.append(sim)
        let snap = dir.file("snap")
        try FileManager.default.createDirectory(atPath: snap, withIntermediateDirectories: true)
        _ = try sim.get("vmm.ping")
        try sim.put("vm.create", vmConfigBody(dir, cpus: (1, 2), memory: 1 << 30, hotplug: 1 << 30, method: "VirtioMem", balloon: 0))
        try sim.put("vm.boot")
        _ = try sim.get("vm.info")
        _ = try sim.get("vm.counters")
        try sim.put("vm.resize", "{\"desired_vcpus\":2,\"desired_ram\":\(3 << 29),\"desired_balloon\":\(1 << 28)}")
        try sim.put("vm.pause")
        try sim.put("vm.snapshot", "{\"destination_url\":\"file://\(snap)\"}")
        try sim.put("vm.resume")
        try sim.put("vm.shutdown")
        try sim.put("vm.delete")
        try sim.put("vm.restore", "{\"source_url\":\"file://\(snap)\",\"prefault\":false,\"memory_restore_mode\":\"Copy\",\"resume\":true}")
        try sim.put("vm.reboot")
        try sim.put("vmm.shutdown")
        _ = sim.waitForExit()
    }

    @Test("the request log has one JSON line per request with method, path, body and status")
    func logLines() throws {
        try withTempDir { dir, sims in
            let log = dir.file("requests.jsonl")
            try produceLog(dir, log, sims: &sims)
            let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 14)
            let entries = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(entries.count == lines.count)
            let create = entries.first { $0["path"] as? String == "/api/v1/vm.create" }
            #expect(create?["method"] as? String == "PUT")
            #expect(create?["status"] as? Int == 204)
            #expect((create?["body"] as? [String: Any])?["payload"] != nil)
            let ping = entries.first { $0["path"] as? String == "/api/v1/vmm.ping" }
            #expect(ping?["body"] is NSNull)
            #expect(entries.allSatisfy { ($0["status"] as? Int) != nil })
        }
    }

    @Test("validate_requests.py accepts the log of valid requests and flags invalid ones",
          .enabled(if: Python.hasSchemaModules, "needs \(Python.path) with PyYAML and jsonschema (apt install python3-yaml python3-jsonschema)"))
    func schemaValidation() throws {
        let python = Python.path
        let script = Self.testsFolder.appendingPathComponent("Tools/validate_requests.py").path
        let openapi = Self.testsFolder.appendingPathComponent("Fixtures/cloud-hypervisor-openapi.yaml").path
        try withTempDir { dir, sims in
            let log = dir.file("requests.jsonl")
            try produceLog(dir, log, sims: &sims)
            let good = try runToCompletion(python, [script, openapi, log])
            #expect(good.status == 0, "\(good.output)")
            #expect(good.output.contains("14 requests checked, 0 invalid"))

            let badLog = dir.file("bad.jsonl")
            let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_REQUEST_LOG": badLog])
            sims.append(sim)
            try sim.put("vm.resize", "{\"desired_vcpus\":\"two\"}")
            try sim.put("vm.boot", "{}")
            try sim.put("vm.create")
            try sim.put("vm.nonsense")
            try sim.put("vm.create", "{not json")
            let bad = try runToCompletion(python, [script, openapi, badLog])
            #expect(bad.status == 1)
            #expect(bad.output.contains("5 requests checked, 5 invalid"), "\(bad.output)")
        }
    }
}
