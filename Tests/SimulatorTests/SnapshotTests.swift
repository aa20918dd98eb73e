import Foundation
import Glibc
import Testing

@Suite("Snapshot and restore")
struct SnapshotTests {
    /// Boots a 2 GiB VM with a balloon in `sim`, pauses it and snapshots it into `dir/snap`.
    private func snapshot(_ sim: SimProcess, _ dir: TempDir) throws -> String {
        let snap = dir.file("snap")
        try FileManager.default.createDirectory(atPath: snap, withIntermediateDirectories: true)
        #expect(try sim.put("vm.create", vmConfigBody(dir, memory: 2 << 30, balloon: 256 << 20)).status == 204)
        #expect(try sim.put("vm.boot").status == 204)
        #expect(try sim.put("vm.snapshot", "{\"destination_url\":\"file://\(snap)\"}").status == 500)
        #expect(try sim.put("vm.pause").status == 204)
        #expect(try sim.put("vm.snapshot", "{\"destination_url\":\"file://\(snap)\"}").status == 204)
        return snap
    }

    @Test("snapshot writes config.json, state.json and a sparse memory-ranges as large as the RAM")
    func snapshotFiles() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let snap = try snapshot(sim, dir)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: snap + "/config.json"))) as? [String: Any]
            #expect((config?["memory"] as? [String: Any])?["size"] as? Int64 == 2 << 30)
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: snap + "/state.json"))) as? [String: Any]
            #expect(state?["vm_state"] as? String == "Paused")
            var st = stat()
            #expect(stat(snap + "/memory-ranges", &st) == 0)
            #expect(Int64(st.st_size) == 2 << 30)
            #expect(Int64(st.st_blocks) * 512 < 1 << 20)
            #expect(try sim.put("vm.resume").status == 204)
            #expect(try sim.state() == "Running")
            let missingDir = try sim.put("vm.pause")
            #expect(missingDir.status == 204)
            #expect(try sim.put("vm.snapshot", "{\"destination_url\":\"file://\(dir.file("absent"))\"}").status == 500)
        }
    }

    @Test("restore into a fresh simulator gives Paused, or Running with resume: true")
    func restore() throws {
        try withTempDir { dir, sims in
            let source = try SimProcess.start(in: dir)
            sims.append(source)
            let snap = try snapshot(source, dir)
            source.kill()

            let paused = try SimProcess(arguments: ["--api-socket", dir.file("r1.sock")], socketPath: dir.file("r1.sock"))
            sims.append(paused)
            try paused.waitForSocket()
            #expect(try paused.put("vm.restore", "{\"source_url\":\"file://\(snap)\",\"prefault\":false}").status == 204)
            let info = try paused.get("vm.info").object
            #expect(info["state"] as? String == "Paused")
            #expect(info["memory_actual_size"] as? Int64 == (2 << 30) - (256 << 20))
            #expect(try paused.put("vm.resume").status == 204)
            paused.kill()

            let running = try SimProcess(arguments: ["--api-socket", dir.file("r2.sock")], socketPath: dir.file("r2.sock"))
            sims.append(running)
            try running.waitForSocket()
            #expect(try running.put("vm.restore", "{\"source_url\":\"file://\(snap)\",\"resume\":true,\"memory_restore_mode\":\"OnDemand\"}").status == 204)
            #expect(try running.state() == "Running")
            running.kill()

            let startup = try SimProcess(
                arguments: ["--api-socket", dir.file("r3.sock"), "--restore", "source_url=file://\(snap),resume=true,memory_restore_mode=ondemand"],
                socketPath: dir.file("r3.sock"))
            sims.append(startup)
            try startup.waitForSocket()
            #expect(try startup.state() == "Running")
        }
    }

    @Test("restore on a VMM that holds a config fails; a failed restore leaves the VMM empty and reusable")
    func restoreFailures() throws {
        try withTempDir { dir, sims in
            let source = try SimProcess.start(in: dir)
            sims.append(source)
            let snap = try snapshot(source, dir)
            let used = try source.put("vm.restore", "{\"source_url\":\"file://\(snap)\"}")
            #expect(used.status == 500)
            #expect(used.errorMessages?.first == "Error restoring VM")
            source.kill()

            let fresh = try SimProcess(arguments: ["--api-socket", dir.file("f.sock")], socketPath: dir.file("f.sock"))
            sims.append(fresh)
            try fresh.waitForSocket()
            let both = try fresh.put("vm.restore", "{\"source_url\":\"file://\(snap)\",\"prefault\":true,\"memory_restore_mode\":\"OnDemand\"}")
            #expect(both.status == 400)
            #expect(try fresh.put("vm.restore", "{\"source_url\":\"file://\(dir.file("nowhere"))\"}").status == 500)
            try FileManager.default.removeItem(atPath: dir.file("disk.img"))
            #expect(try fresh.put("vm.restore", "{\"source_url\":\"file://\(snap)\"}").status == 500)
            #expect(try fresh.get("vm.info").status == 404)
            dir.touch("disk.img")
            #expect(try fresh.put("vm.restore", "{\"source_url\":\"file://\(snap)\"}").status == 204)
            #expect(try fresh.state() == "Paused")
        }
    }

    @Test("on-demand restore fails without userfaultfd (CH_SIM_USERFAULTFD=0)")
    func onDemandWithoutUserfaultfd() throws {
        try withTempDir { dir, sims in
            let source = try SimProcess.start(in: dir)
            sims.append(source)
            let snap = try snapshot(source, dir)
            source.kill()
            let target = try SimProcess(
                arguments: ["--api-socket", dir.file("u.sock")], socketPath: dir.file("u.sock"), environment: ["CH_SIM_USERFAULTFD": "0"])
            sims.append(target)
            try target.waitForSocket()
            #expect(try target.put("vm.restore", "{\"source_url\":\"file://\(snap)\",\"memory_restore_mode\":\"OnDemand\"}").status == 500)
            #expect(try target.put("vm.restore", "{\"source_url\":\"file://\(snap)\"}").status == 204)
        }
    }
}
