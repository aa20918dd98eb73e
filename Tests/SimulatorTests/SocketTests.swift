import Foundation
import Glibc
import Testing

@Suite("Process, socket and command line")
struct SocketTests {
    @Test("a second simulator on the same socket exits 1 with 'in use'")
    func secondSimulatorExits() throws {
        try withTempDir { dir, sims in
            let first = try SimProcess.start(in: dir)
            sims.append(first)
            let second = try SimProcess(arguments: ["--api-socket", "path=\(first.socketPath)"], socketPath: first.socketPath)
            sims.append(second)
            #expect(second.waitForExit() == 1)
            #expect(second.stderrText().contains("in use"))
            #expect(try first.get("vmm.ping").status == 200)
        }
    }

    @Test("vmm.shutdown answers 204, then the process exits 0 and removes the socket and lock")
    func shutdownRemovesSocket() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            #expect(FileManager.default.fileExists(atPath: sim.socketPath + ".lock"))
            #expect(try sim.put("vmm.shutdown").status == 204)
            #expect(sim.waitForExit() == 0)
            #expect(!FileManager.default.fileExists(atPath: sim.socketPath))
            #expect(!FileManager.default.fileExists(atPath: sim.socketPath + ".lock"))
        }
    }

    @Test("SIGTERM removes the socket and lock; SIGKILL leaves them and a new simulator takes over")
    func signalsAndLeftovers() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            sim.signal(SIGTERM)
            #expect(sim.waitForExit() == 0)
            #expect(!FileManager.default.fileExists(atPath: sim.socketPath))
            #expect(!FileManager.default.fileExists(atPath: sim.socketPath + ".lock"))

            let killed = try SimProcess.start(in: dir)
            sims.append(killed)
            killed.kill()
            #expect(FileManager.default.fileExists(atPath: killed.socketPath))
            #expect(FileManager.default.fileExists(atPath: killed.socketPath + ".lock"))
            let next = try SimProcess.start(in: dir)
            sims.append(next)
            #expect(try next.get("vmm.ping").status == 200)
        }
    }

    @Test("unknown flags exit 1 and --version prints the version")
    func commandLine() throws {
        try withTempDir { dir, sims in
            let bad = try SimProcess(arguments: ["--api-socket", dir.file("s"), "--frobnicate"], socketPath: dir.file("s"))
            sims.append(bad)
            #expect(bad.waitForExit() == 1)
            #expect(bad.stderrText().contains("--frobnicate"))
            #expect(!FileManager.default.fileExists(atPath: dir.file("s")))

            let version = try runToCompletion(SimBinary.path, ["--version"])
            #expect(version.output.hasPrefix("cloud-hypervisor v53.0.0"))
            #expect(version.status == 0)
        }
    }

    @Test("accepted flags are ignored and the plain --api-socket form works")
    func ignoredFlags() throws {
        try withTempDir { dir, sims in
            let socket = dir.file("p.sock")
            let sim = try SimProcess(
                arguments: ["--api-socket", socket, "-v", "-vv", "--log-file", dir.file("ch.log"), "--serial", "tty",
                            "--console", "off", "--seccomp", "false"],
                socketPath: socket)
            sims.append(sim)
            try sim.waitForSocket()
            #expect(try sim.get("vmm.ping").status == 200)
        }
    }

    @Test("command-line boot creates and boots a VM at start")
    func commandLineBoot() throws {
        try withTempDir { dir, sims in
            let socket = dir.file("c.sock")
            let sim = try SimProcess(
                arguments: [
                    "--api-socket", "path=\(socket)", "--kernel", dir.touch("vmlinux"), "--cmdline", "console=hvc0 quiet",
                    "--cpus", "boot=2,max=4", "--memory", "size=1024M,hotplug_size=1G,hotplug_method=virtio-mem",
                    "--disk", "path=\(dir.touch("a.img"))", "path=\(dir.touch("b.img")),readonly=on",
                    "--net", "tap=tap0,mac=52:54:00:00:00:01,ip=192.168.0.1,mask=255.255.255.0",
                    "--balloon", "size=256M,deflate_on_oom=on,free_page_reporting=on",
                ],
                socketPath: socket)
            sims.append(sim)
            try sim.waitForSocket()
            let info = try sim.get("vm.info").object
            #expect(info["state"] as? String == "Running")
            let config = info["config"] as? [String: Any] ?? [:]
            #expect((config["cpus"] as? [String: Any])?["max_vcpus"] as? Int == 4)
            #expect((config["memory"] as? [String: Any])?["hotplug_method"] as? String == "VirtioMem")
            #expect((config["disks"] as? [[String: Any]])?.count == 2)
            #expect((config["disks"] as? [[String: Any]])?.last?["readonly"] as? Bool == true)
            #expect(info["memory_actual_size"] as? Int == (1 << 30) - (256 << 20))
        }
    }

    @Test("command-line boot with a missing kernel exits 1")
    func commandLineBootFailure() throws {
        try withTempDir { dir, sims in
            let socket = dir.file("f.sock")
            let sim = try SimProcess(arguments: ["--api-socket", socket, "--kernel", dir.file("nope")], socketPath: socket)
            sims.append(sim)
            #expect(sim.waitForExit() == 1)
            #expect(sim.stderrText().contains("nope"))
        }
    }

    @Test("--api-socket fd=N serves an inherited listening socket without a lock file",
          .enabled(if: Python.installed, "needs \(Python.path) to bind the socket and exec the simulator with it"))
    func inheritedSocket() throws {
        try withTempDir { dir, _ in
            let socket = dir.file("fd.sock")
            let launcher = """
                import os, socket, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(sys.argv[1]); s.listen(16); os.set_inheritable(s.fileno(), True)
                os.execv(sys.argv[2], [sys.argv[2], "--api-socket", "fd=%d" % s.fileno()])
                """
            let launcherProcess = try ChildProcess(
                Python.path, ["-c", launcher, socket, SimBinary.path], environment: ProcessInfo.processInfo.environment)
            defer { launcherProcess.kill() }
            var reply: HTTPReply?
            for _ in 0..<300 where reply == nil {
                reply = try? UnixHTTPClient(socketPath: socket).request("GET", "/api/v1/vmm.ping")
                if reply == nil { usleep(10_000) }
            }
            #expect(reply?.status == 200)
            #expect((reply?.object["pid"] as? Int).map(Int32.init) == launcherProcess.pid)
            #expect(!FileManager.default.fileExists(atPath: socket + ".lock"))
        }
    }

    @Test("CH_SIM_SOCKET_DELAY_MS delays the socket")
    func socketDelay() throws {
        try withTempDir { dir, sims in
            let start = Date()
            let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_SOCKET_DELAY_MS": "300"])
            sims.append(sim)
            #expect(Date().timeIntervalSince(start) >= 0.3)
        }
    }
}
