import Foundation
import Glibc
import Reconciler
import Resources
import Testing
@testable import Drivers

/// The real CH driver against the bundled simulator, over the real socket protocol.
@Suite("Cloud Hypervisor driver against the simulator", .serialized)
struct CloudHypervisorRuntimeTests {
    let journal = NoJournal()

    @Test("create boots a VMM in its own process group with a recorded pid, start time and socket")
    func create() async throws {
        let host = try SimHost()
        try await host.runtime.create("web", config: host.config(disk: .gibibytes(4)), state: .running, reuseDisk: false, journal: journal)
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.name == "web" && observed.vm == .running)
        let process = try #require(observed.process)
        #expect(getpgid(process.pid) == process.pid)
        #expect(ProcFS.isAlive(process))
        #expect(FileManager.default.fileExists(atPath: host.runtime.layout.socket("web")))
        let disk = try await QemuImg().info(host.runtime.layout.disk("web"))
        #expect(disk.virtualSize == 4 << 30 && disk.backingFilename == "\(host.root)/ch/images/base.qcow2")
        // The VMM holds an advisory lock on its disk (as CH does); check once it let go.
        try await host.runtime.transition("web", to: .stopped, journal: journal)
        _ = try await QemuImg().check(host.runtime.layout.disk("web"))
    }

    @Test("the VM config asks for the boot-time ceilings and a balloon device")
    func vmConfig() async throws {
        let host = try SimHost()
        let config = host.config(memory: .gibibytes(2), cpus: 2, limits: ResourceLimits(cpus: 4, memory: .gibibytes(4)))
        try await host.runtime.create("web", config: config, state: .running, reuseDisk: false, journal: journal)
        let info = try await CloudHypervisor.Client(socketPath: host.runtime.layout.socket("web")).info()
        #expect(info.config.cpus.boot_vcpus == 2 && info.config.cpus.max_vcpus == 4)
        #expect(info.config.memory.size == 2 << 30 && info.config.memory.hotplug_size == 2 << 30)
        #expect(info.config.balloon?.size == 0 && info.config.balloon?.deflate_on_oom == true)
        #expect(info.config.vsock == CloudHypervisor.VsockConfig(cid: 3, socket: host.runtime.layout.vsock("web")))
        #expect(info.config.disks?.first?.path == host.runtime.layout.disk("web"))
    }

    @Test("pause, resume, stop and start, each verified by observation")
    func transitions() async throws {
        let host = try SimHost()
        try await host.runtime.create("web", config: host.config(), state: .running, reuseDisk: false, journal: journal)
        try await host.runtime.transition("web", to: .paused, journal: journal)
        #expect(try await host.runtime.observe().first?.vm == .paused)
        try await host.runtime.transition("web", to: .running, journal: journal)
        #expect(try await host.runtime.observe().first?.vm == .running)
        let before = try #require(try await host.runtime.observe().first?.process)
        try await host.runtime.transition("web", to: .stopped, journal: journal)
        let stopped = try #require(try await host.runtime.observe().first)
        #expect(stopped.vm == .absent && stopped.powerState == .stopped && stopped.diskExists)
        #expect(!ProcFS.isAlive(before))
        #expect(!FileManager.default.fileExists(atPath: host.runtime.layout.socket("web")))
        try await host.runtime.transition("web", to: .running, journal: journal)
        let after = try #require(try await host.runtime.observe().first)
        #expect(after.vm == .running && after.process != before)
    }

    @Test("a VMM killed by PID is seen as gone, and starting it again gives a new process")
    func killed() async throws {
        let host = try SimHost()
        try await host.runtime.create("web", config: host.config(), state: .running, reuseDisk: false, journal: journal)
        let process = try #require(try await host.runtime.observe().first?.process)
        kill(process.pid, SIGKILL)
        try #require(try await waitUntilGone(process), "VMM \(process.pid) survived SIGKILL")
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.vm == .absent && observed.intendedState == .running)
        try await host.runtime.transition("web", to: .running, journal: journal)
        #expect(try await host.runtime.observe().first?.vm == .running)
    }

    @Test("a VMM whose pid was never recorded is adopted through vmm.ping")
    func adoption() async throws {
        let host = try SimHost()
        try await host.runtime.create("web", config: host.config(), state: .running, reuseDisk: false, journal: journal)
        let path = host.runtime.layout.metadata("web")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let pid = (json["process"] as? [String: Any])?["pid"] as? Int
        json["process"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.vm == .running && observed.process?.pid == pid.map(Int32.init))
        try await host.runtime.destroy("web", keepDisk: false, journal: journal)
        #expect(host.leftovers().isEmpty)
    }

    @Test("resize within the ceilings changes the live VM")
    func resize() async throws {
        let host = try SimHost()
        let limits = ResourceLimits(cpus: 4, memory: .gibibytes(4))
        try await host.runtime.create("web", config: host.config(memory: .gibibytes(2), cpus: 2, limits: limits), state: .running, reuseDisk: false, journal: journal)
        try await host.runtime.resize("web", config: host.config(memory: .gibibytes(3), cpus: 3, limits: limits), journal: journal)
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.liveCpus == 3 && observed.config.memory == .gibibytes(3))
        #expect(observed.liveMemory == .gibibytes(3))
    }

    @Test("destroy leaves no process, socket, lock, overlay or metadata")
    func destroy() async throws {
        let host = try SimHost()
        try await host.runtime.create("a", config: host.config(), state: .running, reuseDisk: false, journal: journal)
        try await host.runtime.create("b", config: host.config(), state: .paused, reuseDisk: false, journal: journal)
        let pids = try await host.runtime.observe().compactMap(\.process)
        for name in ["a", "b"] { try await host.runtime.destroy(name, keepDisk: false, journal: journal) }
        #expect(host.leftovers().isEmpty, "\(host.leftovers())")
        #expect(pids.count == 2 && pids.allSatisfy { !ProcFS.isAlive($0) }, "\(pids)")
        #expect(try await host.runtime.observe().isEmpty)
        // Destroying what is absent succeeds.
        try await host.runtime.destroy("a", keepDisk: false, journal: journal)
    }

    @Test("replacement keeps the disk when asked")
    func keepDisk() async throws {
        let host = try SimHost()
        try await host.runtime.create("web", config: host.config(), state: .running, reuseDisk: false, journal: journal)
        let disk = host.runtime.layout.disk("web")
        let inode = try FileManager.default.attributesOfItem(atPath: disk)[.systemFileNumber] as? Int
        try await host.runtime.destroy("web", keepDisk: true, journal: journal)
        try await host.runtime.create("web", config: host.config(memory: .gibibytes(2)), state: .running, reuseDisk: true, journal: journal)
        #expect(try FileManager.default.attributesOfItem(atPath: disk)[.systemFileNumber] as? Int == inode)
        #expect(try await host.runtime.observe().first?.config.memory == .gibibytes(2))
    }

    @Test("missing binary, kernel and image give errors that say what to set")
    func preflight() async throws {
        let host = try SimHost()
        var noBinary = CloudHypervisor.Runtime(config: HostConfig(stateDirectory: host.root, values: ["CH_BINARY": "/nonexistent/ch"]))
        noBinary.vmmEnvironment = [:]
        await #expect { try await noBinary.create("a", config: host.config(), state: .running, reuseDisk: false, journal: journal) } throws: {
            "\($0)".contains("CH_BINARY /nonexistent/ch is not an executable file")
        }
        try FileManager.default.removeItem(atPath: "\(host.root)/ch/kernels/vmlinux")
        await #expect { try await host.runtime.create("b", config: host.config(), state: .running, reuseDisk: false, journal: journal) } throws: {
            "\($0)".contains("set CH_KERNEL_PATH")
        }
        await #expect { try await host.runtime.create("c", config: host.config(image: "nope"), state: .running, reuseDisk: false, journal: journal) } throws: {
            "\($0)".contains("base image 'nope' not found")
        }
        // A create that failed after writing its record (a: no binary, b: no kernel) leaves the
        // record, so the next pass finds it, but no process; one refused before (c: no image) leaves nothing.
        let records = try await host.runtime.observe().sorted { $0.name < $1.name }
        #expect(records.map(\.name) == ["a", "b"], "\(records)")
        #expect(records.allSatisfy { $0.vm == .absent && $0.process == nil }, "\(records)")
    }

    @Test("a VMM that dies during boot is an error naming the step, with its log")
    func diesDuringBoot() async throws {
        let host = try SimHost(environment: ["CH_SIM_EXIT_ON": "vm.boot"])
        do {
            try await host.runtime.create("web", config: host.config(), state: .running, reuseDisk: false, journal: journal)
            Issue.record("create succeeded with a VMM that dies on boot")
        } catch {
            #expect("\(error)".contains("vm.boot"), "\(error)")
        }
        let observed = try #require(try await host.runtime.observe().first)
        #expect(observed.vm == .absent)
        try await host.runtime.destroy("web", keepDisk: false, journal: journal)
        #expect(host.leftovers().isEmpty, "\(host.leftovers())")
    }

    @Test("state errors surface as failures whether the VMM answers 500 (code) or 405 (OpenAPI)", arguments: ["500", "405"])
    func statusConventions(status: String) async throws {
        let host = try SimHost(environment: ["CH_SIM_STATE_ERROR_STATUS": status])
        try await host.runtime.create("web", config: host.config(), state: .running, reuseDisk: false, journal: journal)
        let client = CloudHypervisor.Client(socketPath: host.runtime.layout.socket("web"))
        do {
            try await client.resume()  // not paused
            Issue.record("resume of a running VM succeeded")
        } catch CloudHypervisor.Error.http(let endpoint, let code, let messages) {
            #expect(endpoint == "vm.resume" && code == Int(status)! && !messages.isEmpty)
        }
        // The driver decides from observed state, so transitions still work.
        try await host.runtime.transition("web", to: .paused, journal: journal)
        try await host.runtime.transition("web", to: .paused, journal: journal)
        try await host.runtime.transition("web", to: .running, journal: journal)
        #expect(try await host.runtime.observe().first?.vm == .running)
    }

    @Test("every request the driver sends validates against the upstream OpenAPI schema")
    func openAPI() async throws {
        let log = "/tmp/cvg-requests-\(UUID().uuidString.prefix(8)).jsonl"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let host = try SimHost(environment: ["CH_SIM_REQUEST_LOG": log])
        let limits = ResourceLimits(cpus: 4, memory: .gibibytes(4))
        try await host.runtime.create("web", config: host.config(memory: .gibibytes(2), cpus: 2, limits: limits), state: .running, reuseDisk: false, journal: journal)
        try await host.runtime.transition("web", to: .paused, journal: journal)
        try await host.runtime.transition("web", to: .running, journal: journal)
        try await host.runtime.resize("web", config: host.config(memory: .gibibytes(3), cpus: 3, limits: limits), journal: journal)
        try await host.runtime.setBalloon("web", to: .gibibytes(1), journal: journal)
        _ = try await host.runtime.observe()
        try await host.runtime.transition("web", to: .stopped, journal: journal)
        try await host.runtime.destroy("web", keepDisk: false, journal: journal)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tools/validate_requests.py").path
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/cloud-hypervisor-openapi.yaml").path
        let result = try Spawn.runToCompletion(["/usr/bin/python3", script, schema, log])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("0 invalid"), "\(result.stdout)")
        // Every endpoint the driver uses was exercised.
        for endpoint in ["vmm.ping", "vm.create", "vm.boot", "vm.info", "vm.pause", "vm.resume", "vm.resize", "vm.shutdown", "vm.delete", "vmm.shutdown"] {
            #expect(lines.contains { $0.contains("/api/v1/\(endpoint)\"") }, "\(endpoint) never sent")
        }
    }
}
