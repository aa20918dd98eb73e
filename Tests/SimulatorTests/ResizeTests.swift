import Foundation
import Testing

@Suite("Resize and balloon")
struct ResizeTests {
    private static let gib: Int64 = 1 << 30
    private static let mib: Int64 = 1 << 20

    @Test("vCPU resize works up to max_vcpus and fails above it")
    func vcpus() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, cpus: (2, 4))).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_vcpus\":4}").status == 204)
            let over = try sim.put("vm.resize", "{\"desired_vcpus\":5}")
            #expect(over.status == 500)
            #expect(over.errorMessages?.first == "Error resizing VM")
            let cpus = (try sim.get("vm.info").object["config"] as? [String: Any])?["cpus"] as? [String: Any]
            #expect(cpus?["boot_vcpus"] as? Int == 4)
            #expect(try sim.put("vm.resize", "{\"desired_vcpus\":0}").status == 400)
        }
    }

    @Test("memory grows within hotplug_size; beyond it, without hotplug, or shrinking with ACPI fails")
    func acpiMemory() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, memory: Self.gib, hotplug: Self.gib)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(Self.gib + 512 * Self.mib)}").status == 204)
            #expect(try sim.get("vm.info").object["memory_actual_size"] as? Int64 == Self.gib + 512 * Self.mib)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(3 * Self.gib)}").status == 500)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(Self.gib)}").status == 500)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(2 * Self.gib)}").status == 204)
            let memory = (try sim.get("vm.info").object["config"] as? [String: Any])?["memory"] as? [String: Any]
            #expect(memory?["hotplugged_size"] as? Int64 == Self.gib)

            #expect(try sim.put("vm.delete").status == 204)
            #expect(try sim.put("vm.create", vmConfigBody(dir, memory: Self.gib)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(2 * Self.gib)}").status == 500)
        }
    }

    @Test("virtio-mem memory grows and shrinks live, but not below the boot size")
    func virtioMem() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, memory: Self.gib, hotplug: Self.gib, method: "VirtioMem")).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(2 * Self.gib)}").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(Self.gib + 128 * Self.mib)}").status == 204)
            #expect(try sim.get("vm.info").object["memory_actual_size"] as? Int64 == Self.gib + 128 * Self.mib)
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(512 * Self.mib)}").status == 500)
        }
    }

    @Test("resize before boot edits the stored config")
    func resizeBeforeBoot() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.resize", "{\"desired_vcpus\":2}").status == 404)
            #expect(try sim.put("vm.create", vmConfigBody(dir, cpus: (1, 4), memory: Self.gib)).status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_vcpus\":3,\"desired_ram\":\(2 * Self.gib)}").status == 204)
            let info = try sim.get("vm.info").object
            let config = info["config"] as? [String: Any]
            #expect((config?["cpus"] as? [String: Any])?["boot_vcpus"] as? Int == 3)
            #expect((config?["memory"] as? [String: Any])?["size"] as? Int64 == 2 * Self.gib)
            #expect(info["state"] as? String == "Created")
        }
    }

    @Test("the balloon size is subtracted from memory_actual_size and needs a balloon device")
    func balloon() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, memory: 2 * Self.gib, balloon: 0)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_balloon\":\(512 * Self.mib)}").status == 204)
            #expect(try sim.get("vm.info").object["memory_actual_size"] as? Int64 == 2 * Self.gib - 512 * Self.mib)
            #expect(try sim.put("vm.resize", "{\"desired_balloon\":\(3 * Self.gib)}").status == 500)
            #expect(try sim.put("vm.resize", "{\"desired_balloon\":0}").status == 204)
            #expect(try sim.get("vm.info").object["memory_actual_size"] as? Int64 == 2 * Self.gib)

            #expect(try sim.put("vm.delete").status == 204)
            #expect(try sim.put("vm.create", vmConfigBody(dir, memory: 2 * Self.gib)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.resize", "{\"desired_balloon\":\(Self.gib)}").status == 500)
        }
    }

    @Test("a balloon configured at create is inflated at boot")
    func balloonAtBoot() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, memory: 2 * Self.gib, balloon: Self.gib)).status == 204)
            #expect(try sim.get("vm.info").object["memory_actual_size"] as? Int64 == 2 * Self.gib)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.get("vm.info").object["memory_actual_size"] as? Int64 == Self.gib)
            #expect(try sim.put("vm.create", "{\"payload\":{\"kernel\":\"/k\"},\"balloon\":{\"size\":\(Self.gib)}}").status == 400)
        }
    }
}
