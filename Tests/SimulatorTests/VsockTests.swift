import Foundation
import Glibc
import Testing

/// The hybrid vsock device and the simulated guest agent (docs/guest-agent.md, sections 1 and 2).
@Suite("vsock and the guest agent")
struct VsockTests {
    private static let mib: Int64 = 1 << 20
    private static let gib: Int64 = 1 << 30
    /// The default `CH_SIM_GUEST_USED`.
    private static let defaultUsed: Int64 = 200 << 20

    /// `vmConfigBody` plus a vsock device at `socket` and, optionally, a balloon.
    private func config(
        _ dir: TempDir, socket: String, memory: Int64 = 1 << 30, hotplug: Int64? = nil, method: String? = nil,
        balloon: (size: Int64, deflateOnOOM: Bool)? = nil
    ) -> String {
        var body = String(vmConfigBody(dir, memory: memory, hotplug: hotplug, method: method).dropLast())
        body += ",\"vsock\":{\"cid\":3,\"socket\":\"\(socket)\"}"
        if let balloon {
            body += ",\"balloon\":{\"size\":\(balloon.size),\"deflate_on_oom\":\(balloon.deflateOnOOM),\"free_page_reporting\":true}"
        }
        return body + "}"
    }

    /// Connects to the vsock socket and sends `CONNECT port`.
    private func connect(_ socket: String, port: Int = 2280, timeout: Int = 10) throws -> UnixHTTPClient {
        let client = try UnixHTTPClient(socketPath: socket, timeout: timeout)
        try client.sendRaw("CONNECT \(port)\n")
        return client
    }

    /// Connects to the agent, checks the `OK <n>` line and returns the open stream.
    /// A simulator whose VM is created with a vsock device at `DIR/v.sock`, then booted.
    private func bootedWithVsock(_ dir: TempDir, _ sims: inout [SimProcess]) throws -> (SimProcess, String) {
        let sim = try SimProcess.start(in: dir)
        sims.append(sim)
        let socket = dir.file("v.sock")
        #expect(try sim.put("vm.create", config(dir, socket: socket)).status == 204)
        #expect(try sim.put("vm.boot").status == 204)
        return (sim, socket)
    }

    private func connectAgent(_ socket: String, port: Int = 2280) throws -> UnixHTTPClient {
        let client = try connect(socket, port: port)
        let line = try client.readLine()
        #expect(line.hasPrefix("OK "))
        #expect(UInt32(line.dropFirst(3)) != nil)
        return client
    }

    /// `GET /memory-stats` on an agent stream: (total, available, free).
    private func memoryStats(_ client: UnixHTTPClient) throws -> (Int64, Int64, Int64) {
        let reply = try client.request("GET", "/memory-stats")
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "application/json")
        #expect(reply.headers["content-length"] == String(reply.body.utf8.count))
        let object = reply.object
        return (object["total"] as? Int64 ?? -1, object["available"] as? Int64 ?? -1, object["free"] as? Int64 ?? -1)
    }

    /// The kernel's reserve of RAM in the simulated guest: RAM/64, rounded down to 4 KiB.
    private func reserve(_ ram: Int64) -> Int64 { ram / 64 / 4096 * 4096 }

    // MARK: - Boot and the protocol

    @Test("vm.create + vm.boot bind the vsock socket; CONNECT 2280 gets OK and /memory-stats JSON, keep-alive and close work")
    func agentAfterCreateAndBoot() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let socket = dir.file("v.sock")
            #expect(try sim.put("vm.create", config(dir, socket: socket)).status == 204)
            #expect(!FileManager.default.fileExists(atPath: socket))
            #expect(try sim.put("vm.boot").status == 204)
            #expect(FileManager.default.fileExists(atPath: socket))

            let client = try connectAgent(socket)
            let (total, available, free) = try memoryStats(client)
            // 1 GiB of RAM, no balloon: the kernel keeps 16 MiB, the guest uses 200 MiB.
            #expect(total == Self.gib - 16 * Self.mib)
            #expect(total == 1_056_964_608)
            #expect(available == total - Self.defaultUsed)
            #expect(free == available)
            // Keep-alive: the same stream answers again; an unknown path is 404.
            #expect(try client.request("GET", "/nope").status == 404)
            #expect(try memoryStats(client).0 == total)
            let last = try client.request("GET", "/memory-stats", extraHeaders: ["Connection: close"])
            #expect(last.status == 200)
            #expect(client.isClosedByPeer())

            // A second connection gets its own OK, with a different number.
            let a = try connect(socket)
            let b = try connect(socket)
            let lineA = try a.readLine()
            let lineB = try b.readLine()
            #expect(lineA.hasPrefix("OK ") && lineB.hasPrefix("OK ") && lineA != lineB)
            // A request pipelined right after the CONNECT line goes to the guest.
            let pipelined = try UnixHTTPClient(socketPath: socket)
            try pipelined.sendRaw("CONNECT 2280\nGET /memory-stats HTTP/1.1\r\nHost: guest\r\n\r\n")
            #expect(try pipelined.readLine().hasPrefix("OK "))
            #expect(try pipelined.readReply().status == 200)
        }
    }

    @Test("--vsock on the command line gives the device; hotplugged memory, a deflate_on_oom balloon and CH_SIM_GUEST_USED count")
    func commandLineVsock() throws {
        try withTempDir { dir, sims in
            let socket = dir.file("v.sock")
            let api = dir.file("api.sock")
            let sim = try SimProcess(
                arguments: [
                    "--api-socket", "path=\(api)", "--kernel", dir.touch("vmlinux"), "--memory", "size=1G,hotplug_size=1G",
                    "--balloon", "size=256M,deflate_on_oom=on", "--vsock", "cid=3,socket=\(socket)",
                ],
                socketPath: api, environment: ["CH_SIM_GUEST_USED": "\(100 * Self.mib)"])
            sims.append(sim)
            try sim.waitForSocket()
            let vsock = (try sim.get("vm.info").object["config"] as? [String: Any])?["vsock"] as? [String: Any]
            #expect(vsock?["cid"] as? Int == 3)
            #expect(vsock?["socket"] as? String == socket)

            let client = try connectAgent(socket)
            var (total, available, _) = try memoryStats(client)
            #expect(total == Self.gib - reserve(Self.gib))
            #expect(available == total - 100 * Self.mib - 256 * Self.mib)

            // RAM grows by hotplug: 1.5 GiB, reserve 24 MiB.
            #expect(try sim.put("vm.resize", "{\"desired_ram\":\(Self.gib + 512 * Self.mib)}").status == 204)
            (total, available, _) = try memoryStats(client)
            #expect(total == Self.gib + 512 * Self.mib - 24 * Self.mib)
            #expect(available == total - 100 * Self.mib - 256 * Self.mib)
        }
    }

    @Test("with deflate_on_oom the balloon comes off available; total stays")
    func balloonDeflateOnOOM() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let socket = dir.file("v.sock")
            let ram = 2 * Self.gib
            #expect(try sim.put("vm.create", config(dir, socket: socket, memory: ram, balloon: (0, true))).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            let client = try connectAgent(socket)
            var (total, available, free) = try memoryStats(client)
            #expect(total == ram - 32 * Self.mib)
            #expect(available == total - Self.defaultUsed)

            #expect(try sim.put("vm.resize", "{\"desired_balloon\":\(512 * Self.mib)}").status == 204)
            (total, available, free) = try memoryStats(client)
            #expect(total == ram - 32 * Self.mib)
            #expect(available == total - Self.defaultUsed - 512 * Self.mib)
            #expect(free == available)
            // The policy's reading: used = total - available - balloon.
            #expect(total - available - 512 * Self.mib == Self.defaultUsed)

            // A balloon bigger than what is left leaves nothing available, never less.
            #expect(try sim.put("vm.resize", "{\"desired_balloon\":\(ram - 64 * Self.mib)}").status == 204)
            (total, available, _) = try memoryStats(client)
            #expect(available == 0)
        }
    }

    @Test("without deflate_on_oom the balloon comes off total")
    func balloonWithoutDeflateOnOOM() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let socket = dir.file("v.sock")
            let ram = 2 * Self.gib
            #expect(try sim.put("vm.create", config(dir, socket: socket, memory: ram, balloon: (256 * Self.mib, false))).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            let client = try connectAgent(socket)
            var (total, available, _) = try memoryStats(client)
            #expect(total == ram - 32 * Self.mib - 256 * Self.mib)
            #expect(available == total - Self.defaultUsed)

            #expect(try sim.put("vm.resize", "{\"desired_balloon\":\(Self.gib)}").status == 204)
            (total, available, _) = try memoryStats(client)
            #expect(total == ram - 32 * Self.mib - Self.gib)
            #expect(available == total - Self.defaultUsed)
        }
    }

    @Test("SOCK.guest-used overrides the used memory on every request; a malformed file is ignored")
    func guestUsedFile() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let socket = dir.file("v.sock")
            // RAM/64 is not a multiple of 4 KiB here: the reserve rounds down to 4096 pages.
            let ram = Self.gib + 4096
            #expect(try sim.put("vm.create", config(dir, socket: socket, memory: ram)).status == 204)
            #expect(try sim.put("vm.boot").status == 204)
            let client = try connectAgent(socket)
            let usedFile = sim.socketPath + ".guest-used"
            let total = ram - 16 * Self.mib
            #expect(reserve(ram) == 16 * Self.mib)

            try "\(512 * Self.mib)\n".write(toFile: usedFile, atomically: true, encoding: .utf8)
            let stats = try memoryStats(client)
            #expect(stats.0 == total)
            #expect(stats.1 == total - 512 * Self.mib)
            #expect(stats.2 == stats.1)
            try "\(300 * Self.mib)".write(toFile: usedFile, atomically: true, encoding: .utf8)
            #expect(try memoryStats(client).1 == total - 300 * Self.mib)
            try "\(4 * Self.gib)\n".write(toFile: usedFile, atomically: true, encoding: .utf8)
            #expect(try memoryStats(client).1 == 0)
            try "lots\n".write(toFile: usedFile, atomically: true, encoding: .utf8)
            #expect(try memoryStats(client).1 == total - Self.defaultUsed)
            try FileManager.default.removeItem(atPath: usedFile)
            #expect(try memoryStats(client).1 == total - Self.defaultUsed)
        }
    }

    // MARK: - Refusals

    @Test("a wrong port, a malformed or overlong line, or no agent: closed without a reply")
    func closedWithoutReply() throws {
        try withTempDir { dir, sims in
            let (_, socket) = try bootedWithVsock(dir, &sims)
            #expect(try connect(socket, port: 2281).closedWithoutReply())
            for line in ["HELLO 2280\n", "CONNECT\n", "CONNECT port\n", "CONNECT 99999999999\n", String(repeating: "C", count: 100)] {
                let client = try UnixHTTPClient(socketPath: socket)
                try client.sendRaw(line)
                #expect(client.closedWithoutReply(), "line \(line.debugDescription)")
            }
            // The device still works afterwards.
            _ = try connectAgent(socket)

            let quiet = try SimProcess(
                arguments: ["--api-socket", dir.file("q.sock")], socketPath: dir.file("q.sock"), environment: ["CH_SIM_GUEST_AGENT": "0"])
            sims.append(quiet)
            try quiet.waitForSocket()
            let quietSocket = dir.file("q-v.sock")
            #expect(try quiet.put("vm.create", config(dir, socket: quietSocket)).status == 204)
            #expect(try quiet.put("vm.boot").status == 204)
            #expect(try connect(quietSocket).closedWithoutReply())
        }
    }

    @Test("CH_SIM_GUEST_AGENT_PORT moves the agent; CH_SIM_GUEST_AGENT_DELAY_MS holds it back after boot")
    func agentPortAndDelay() throws {
        try withTempDir { dir, sims in
            let moved = try SimProcess(
                arguments: ["--api-socket", dir.file("m.sock")], socketPath: dir.file("m.sock"),
                environment: ["CH_SIM_GUEST_AGENT_PORT": "5000"])
            sims.append(moved)
            try moved.waitForSocket()
            let movedSocket = dir.file("m-v.sock")
            #expect(try moved.put("vm.create", config(dir, socket: movedSocket)).status == 204)
            #expect(try moved.put("vm.boot").status == 204)
            #expect(try connect(movedSocket).closedWithoutReply())
            #expect(try memoryStats(try connectAgent(movedSocket, port: 5000)).0 > 0)

            // An agent that never comes up within the test.
            let never = try SimProcess(
                arguments: ["--api-socket", dir.file("n.sock")], socketPath: dir.file("n.sock"),
                environment: ["CH_SIM_GUEST_AGENT_DELAY_MS": "600000"])
            sims.append(never)
            try never.waitForSocket()
            let neverSocket = dir.file("n-v.sock")
            #expect(try never.put("vm.create", config(dir, socket: neverSocket)).status == 204)
            #expect(try never.put("vm.boot").status == 204)
            #expect(try connect(neverSocket).closedWithoutReply())

            // An agent that comes up shortly after boot: retry until OK, within a bound.
            let late = try SimProcess(
                arguments: ["--api-socket", dir.file("l.sock")], socketPath: dir.file("l.sock"),
                environment: ["CH_SIM_GUEST_AGENT_DELAY_MS": "100"])
            sims.append(late)
            try late.waitForSocket()
            let lateSocket = dir.file("l-v.sock")
            #expect(try late.put("vm.create", config(dir, socket: lateSocket)).status == 204)
            #expect(try late.put("vm.boot").status == 204)
            var answered = false
            for _ in 0..<500 where !answered {
                let client = try connect(lateSocket)
                if let line = try? client.readLine() {
                    #expect(line.hasPrefix("OK "))
                    answered = true
                } else {
                    usleep(10_000)
                }
            }
            #expect(answered)
        }
    }

    @Test("malformed agent knobs stop the simulator at start")
    func malformedKnobs() throws {
        try withTempDir { dir, sims in
            let bad = [
                ("CH_SIM_GUEST_AGENT", "yes"), ("CH_SIM_GUEST_AGENT_PORT", "http"), ("CH_SIM_GUEST_AGENT_PORT", "4294967296"),
                ("CH_SIM_GUEST_AGENT_DELAY_MS", "-5"), ("CH_SIM_GUEST_USED", "200M"),
            ]
            for (i, (name, value)) in bad.enumerated() {
                let sim = try SimProcess(
                    arguments: ["--api-socket", dir.file("k\(i).sock")], socketPath: dir.file("k\(i).sock"), environment: [name: value])
                sims.append(sim)
                #expect(sim.waitForExit() == 1, "\(name)=\(value)")
                #expect(sim.stderrText().contains(name))
            }
        }
    }

    // MARK: - Device lifetime

    @Test("a file at the vsock path fails the boot with 500 and the VM stays Created")
    func staleSocketFailsBoot() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let socket = dir.touch("v.sock")
            #expect(try sim.put("vm.create", config(dir, socket: socket)).status == 204)
            let boot = try sim.put("vm.boot")
            #expect(boot.status == 500)
            #expect(boot.errorMessages?.first == "Error booting VM")
            #expect(boot.errorMessages?.last?.contains("vsock") == true)
            #expect(boot.errorMessages?.last?.contains("(os error 98)") == true)
            #expect(try sim.state() == "Created")
            // Removing the stale file is the caller's job; then the same config boots.
            try FileManager.default.removeItem(atPath: socket)
            #expect(try sim.put("vm.boot").status == 204)
            _ = try connectAgent(socket)
        }
    }

    @Test("vm.shutdown and vm.delete close the device and its connections but leave the socket file")
    func shutdownClosesDevice() throws {
        try withTempDir { dir, sims in
            let (sim, socket) = try bootedWithVsock(dir, &sims)
            let open = try connectAgent(socket)
            #expect(try sim.put("vm.shutdown").status == 204)
            #expect(open.isClosedByPeer())
            #expect(throws: ClientError.self) { try UnixHTTPClient(socketPath: socket) }
            #expect(FileManager.default.fileExists(atPath: socket))
            // The file left behind fails the next boot until it is removed.
            #expect(try sim.put("vm.boot").status == 500)
            try FileManager.default.removeItem(atPath: socket)
            #expect(try sim.put("vm.boot").status == 204)
            _ = try connectAgent(socket)

            #expect(try sim.put("vm.delete").status == 204)
            #expect(throws: ClientError.self) { try UnixHTTPClient(socketPath: socket) }
            #expect(FileManager.default.fileExists(atPath: socket))
        }
    }

    @Test("the process exiting closes the device and leaves the socket file")
    func exitLeavesSocketFile() throws {
        try withTempDir { dir, sims in
            let (sim, socket) = try bootedWithVsock(dir, &sims)
            #expect(try sim.put("vmm.shutdown").status == 204)
            #expect(sim.waitForExit() == 0)
            #expect(FileManager.default.fileExists(atPath: socket))
            #expect(throws: ClientError.self) { try UnixHTTPClient(socketPath: socket) }
        }
    }

    @Test("a paused VM accepts CONNECT but answers only after vm.resume")
    func pausedHoldsReply() throws {
        try withTempDir { dir, sims in
            let (sim, socket) = try bootedWithVsock(dir, &sims)
            let running = try connectAgent(socket)
            #expect(try sim.put("vm.pause").status == 204)

            let held = try UnixHTTPClient(socketPath: socket)
            try held.sendRaw("CONNECT 2280\nGET /memory-stats HTTP/1.1\r\nHost: guest\r\n\r\n")
            let wrongPort = try connect(socket, port: 2281)
            try running.sendRaw("GET /memory-stats HTTP/1.1\r\nHost: guest\r\n\r\n")
            #expect(try sim.state() == "Paused")
            #expect(held.receivesNothing(withinMilliseconds: 300))
            #expect(wrongPort.receivesNothing(withinMilliseconds: 10))
            #expect(running.receivesNothing(withinMilliseconds: 10))

            #expect(try sim.put("vm.resume").status == 204)
            #expect(try held.readLine().hasPrefix("OK "))
            #expect(try held.readReply().status == 200)
            #expect(try running.readReply().status == 200)
            // The guest's answer to a port nobody listens on also waited for the resume.
            #expect(wrongPort.closedWithoutReply())
        }
    }

    @Test("restore binds the device, and the restored guest's agent answers at once")
    func restoreCreatesDevice() throws {
        try withTempDir { dir, sims in
            let source = try SimProcess.start(in: dir)
            sims.append(source)
            let socket = dir.file("v.sock")
            let snap = dir.file("snap")
            try FileManager.default.createDirectory(atPath: snap, withIntermediateDirectories: true)
            #expect(try source.put("vm.create", config(dir, socket: socket, balloon: (128 * Self.mib, true))).status == 204)
            #expect(try source.put("vm.boot").status == 204)
            #expect(try source.put("vm.pause").status == 204)
            #expect(try source.put("vm.snapshot", "{\"destination_url\":\"file://\(snap)\"}").status == 204)
            source.kill()

            // The dead VMM's socket file is still there: the restore fails and the VMM stays empty.
            let target = try SimProcess(
                arguments: ["--api-socket", dir.file("r.sock")], socketPath: dir.file("r.sock"),
                environment: ["CH_SIM_GUEST_AGENT_DELAY_MS": "600000"])
            sims.append(target)
            try target.waitForSocket()
            let restore = "{\"source_url\":\"file://\(snap)\",\"resume\":true}"
            let failed = try target.put("vm.restore", restore)
            #expect(failed.status == 500)
            #expect(failed.errorMessages?.first == "Error restoring VM")
            #expect(try target.get("vm.info").status == 404)

            try FileManager.default.removeItem(atPath: socket)
            #expect(try target.put("vm.restore", restore).status == 204)
            let (total, available, _) = try memoryStats(try connectAgent(socket))
            #expect(total == Self.gib - 16 * Self.mib)
            #expect(available == total - Self.defaultUsed - 128 * Self.mib)
        }
    }

    @Test("a guest reboot closes the guest's connections; the device stays")
    func rebootClosesConnections() throws {
        try withTempDir { dir, sims in
            let (sim, socket) = try bootedWithVsock(dir, &sims)
            let open = try connectAgent(socket)
            #expect(try sim.put("vm.reboot").status == 204)
            #expect(open.isClosedByPeer())
            _ = try memoryStats(try connectAgent(socket))
        }
    }
}
