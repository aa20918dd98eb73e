import Foundation
import Glibc
import Testing

@Suite("VM lifecycle")
struct LifecycleTests {
    @Test("vmm.ping returns the simulator's own pid and a sim build version")
    func pingReturnsOwnPID() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let reply = try sim.get("vmm.ping")
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"] == "application/json")
            #expect((reply.object["pid"] as? Int).map(Int32.init) == sim.pid)
            #expect((reply.object["build_version"] as? String)?.contains("sim") == true)
            #expect(reply.object["version"] as? String != nil)
        }
    }

    @Test("create, boot, pause, resume, shutdown, boot and delete follow the documented states")
    func fullLifecycle() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.get("vm.info").status == 404)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            #expect(try sim.state() == "Created")
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.state() == "Running")
            #expect(try sim.put("vm.pause").status == 204)
            #expect(try sim.state() == "Paused")
            #expect(try sim.put("vm.resume").status == 204)
            #expect(try sim.state() == "Running")
            #expect(try sim.put("vm.shutdown").status == 204)
            #expect(try sim.state() == "Created")
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.state() == "Running")
            #expect(try sim.put("vm.reboot").status == 204)
            #expect(try sim.state() == "Running")
            #expect(try sim.put("vm.delete").status == 204)
            #expect(try sim.get("vm.info").status == 404)
            #expect(try sim.put("vm.delete").status == 204)
        }
    }

    @Test("vm.info returns a full config with defaults filled in and device ids after boot")
    func infoHasDefaults() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let kernel = dir.touch("vmlinux")
            #expect(try sim.put("vm.create", "{\"payload\":{\"kernel\":\"\(kernel)\"},\"disks\":[{\"path\":\"\(dir.touch("d.img"))\"}]}").status == 204)
            var info = try sim.get("vm.info").object
            var config = info["config"] as? [String: Any] ?? [:]
            let cpus = config["cpus"] as? [String: Any]
            #expect(cpus?["boot_vcpus"] as? Int == 1)
            #expect(cpus?["max_vcpus"] as? Int == 1)
            #expect((config["memory"] as? [String: Any])?["size"] as? Int == 512 << 20)
            #expect((config["memory"] as? [String: Any])?["hotplug_method"] as? String == "Acpi")
            #expect(info["memory_actual_size"] as? Int == 512 << 20)
            #expect((config["disks"] as? [[String: Any]])?.first?["id"] is NSNull)
            #expect(try sim.put("vm.boot").status == 204)
            info = try sim.get("vm.info").object
            config = info["config"] as? [String: Any] ?? [:]
            #expect((config["disks"] as? [[String: Any]])?.first?["id"] as? String == "_disk0")
            #expect((info["device_tree"] as? [String: Any])?["_disk0"] != nil)
            let counters = try sim.get("vm.counters")
            #expect(counters.status == 200)
            #expect(counters.object["_disk0"] != nil)
        }
    }

    @Test("invalid transitions return 500 by default and 404 without a VM")
    func invalidTransitions500() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.boot").status == 404)
            #expect(try sim.put("vm.pause").status == 404)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            let pause = try sim.put("vm.pause")
            #expect(pause.status == 500)
            #expect(pause.errorMessages?.first == "Error pausing VM")
            #expect(try sim.put("vm.resume").status == 500)
            #expect(try sim.put("vm.shutdown").status == 500)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 500)
            #expect(try sim.put("vm.boot").status == 204)
            let again = try sim.put("vm.boot")
            #expect(again.status == 500)
            #expect(again.errorMessages == ["Error booting VM", "VM is already booted"])
            #expect(try sim.put("vm.resume").status == 500)
            #expect(try sim.put("vm.snapshot", "{\"destination_url\":\"file://\(dir.path)\"}").status == 500)
            #expect(try sim.state() == "Running")
        }
    }

    @Test("invalid transitions return 405 with CH_SIM_STATE_ERROR_STATUS=405")
    func invalidTransitions405() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_STATE_ERROR_STATUS": "405"])
            sims.append(sim)
            #expect(try sim.put("vm.pause").status == 404)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            let pause = try sim.put("vm.pause")
            #expect(pause.status == 405)
            #expect(pause.errorMessages != nil)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.boot").status == 405)
            // Errors that are not state-machine errors keep their codes.
            #expect(try sim.put("vm.resize", "{\"desired_vcpus\":64}").status == 500)
        }
    }

    @Test("booting with a missing kernel fails with 500 and keeps the config")
    func bootWithMissingKernel() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, kernel: dir.file("missing-vmlinux"))).status == 204)
            let boot = try sim.put("vm.boot")
            #expect(boot.status == 500)
            #expect(boot.errorMessages?.first == "Error booting VM")
            #expect(boot.errorMessages?.joined(separator: ": ").contains("missing-vmlinux") == true)
            #expect(try sim.state() == "Created")
        }
    }

    @Test("booting with a missing disk fails, and a fixed config boots after delete and create")
    func bootWithMissingDisk() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir, disks: [dir.file("nope.img")])).status == 204)
            #expect(try sim.put("vm.boot").status == 500)
            #expect(try sim.put("vm.delete").status == 204)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
        }
    }

    @Test("two simulators cannot boot the same writable disk, but can share a readonly one")
    func diskLocks() throws {
        try withTempDir { dir, sims in
            let a = try SimProcess(arguments: ["--api-socket", dir.file("a.sock")], socketPath: dir.file("a.sock"))
            sims.append(a)
            let b = try SimProcess(arguments: ["--api-socket", dir.file("b.sock")], socketPath: dir.file("b.sock"))
            sims.append(b)
            try a.waitForSocket()
            try b.waitForSocket()
            let disk = dir.touch("shared.img")
            #expect(try a.put("vm.create", vmConfigBody(dir, disks: [disk])).status == 204)
            #expect(try b.put("vm.create", vmConfigBody(dir, disks: [disk])).status == 204)
            #expect(try a.put("vm.boot").status == 204)
            let locked = try b.put("vm.boot")
            #expect(locked.status == 500)
            #expect(locked.body.contains("locked"))
            #expect(try a.put("vm.shutdown").status == 204)
            #expect(try b.put("vm.boot").status == 204)
        }
    }

    @Test("the power button powers the guest off: the process exits 0, or with --no-shutdown the VM is Created")
    func powerButton() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_GUEST_SHUTDOWN_MS": "20"])
            sims.append(sim)
            #expect(try sim.put("vm.power-button").status == 404)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            #expect(try sim.put("vm.power-button").status == 204)
            #expect(sim.waitForExit() == 0)
            #expect(!FileManager.default.fileExists(atPath: sim.socketPath))

            let kept = try SimProcess(
                arguments: ["--api-socket", dir.file("k.sock"), "--no-shutdown"], socketPath: dir.file("k.sock"),
                environment: ["CH_SIM_GUEST_SHUTDOWN_MS": "20"])
            sims.append(kept)
            try kept.waitForSocket()
            #expect(try kept.put("vm.create", vmConfigBody(dir)).status == 204)
            #expect(try kept.put("vm.boot").status == 204)
            kept.signal(SIGUSR1)
            var state = try kept.state()
            for _ in 0..<100 where state != "Created" {
                usleep(10_000)
                state = try kept.state()
            }
            #expect(state == "Created")
            kept.signal(SIGUSR2)
            #expect(try kept.get("vmm.ping").status == 200)
        }
    }
}
