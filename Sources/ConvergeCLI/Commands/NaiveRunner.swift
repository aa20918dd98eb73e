import Drivers
import Foundation
import Glibc

/// The baselines of `converge bench scale`: each goal's work done the way the imperative
/// runners we replace do it, one sandbox after another, a process per call (`curl` per VMM
/// API call, `qemu-img` per overlay, the VMM spawned and polled). Each figure is wall time,
/// with the CPU of the processes it ran beside it.
struct NaiveRunner {
    struct Figure: Encodable {
        var seconds: Double
        /// User + system time of the processes the baseline ran.
        var cpuSeconds: Double
    }

    var curl: String = Executables.find("curl") ?? "/usr/bin/curl"

    // MARK: - Observation

    /// `curl vm.info` on every VMM socket in `sockets`, one after another: the naive pass.
    /// Also returns each VMM's balloon size, read from its answer, by socket file.
    func observe(sockets: String, expected: Int) throws -> (Figure, balloons: [String: Int]) {
        let files = try socketFiles(sockets, expected: expected)
        let answer = NSTemporaryDirectory() + "converge-naive-\(getpid()).json"
        defer { unlink(answer) }
        var answers: [String: Data] = [:]
        let figure = try timed {
            for file in files {
                try call(["-sf", "-o", answer, "--unix-socket", "\(sockets)/\(file)", "http://localhost/api/v1/vm.info"], "vm.info on \(file)")
                answers[file] = FileManager.default.contents(atPath: answer)
            }
        }
        // Read after the clock stops: the naive pass is the asking, not our parsing.
        return (figure, answers.compactMapValues(Self.balloonSize(inVmInfo:)))
    }

    /// The naive balloon pass: `curl vm.resize` to each guest's balloon size, then
    /// `curl vm.info` to verify it, VMM after VMM. Sized to what each balloon already is,
    /// so the guests end as they were.
    func balloon(sockets: String, sizes: [String: Int]) throws -> Figure {
        try timed {
            for (file, size) in sizes.sorted(by: { $0.key < $1.key }) {
                let socket = "\(sockets)/\(file)"
                try call(["-sf", "-X", "PUT", "--unix-socket", socket, "-H", "Content-Type: application/json",
                          "-d", "{\"desired_balloon\":\(size)}", "http://localhost/api/v1/vm.resize"], "vm.resize on \(file)")
                try call(["-sf", "-o", "/dev/null", "--unix-socket", socket, "http://localhost/api/v1/vm.info"], "vm.info on \(file)")
            }
        }
    }

    // MARK: - Create

    /// The naive create, `count` times in a row: `qemu-img create` an overlay, spawn the
    /// VMM, `curl vmm.ping` until it answers, `curl vm.create`, `curl vm.boot`. Every VMM it spawned is
    /// killed (by its PID) and `directory` removed before it returns.
    func create(count: Int, simulator: String, kernel: String, baseImage: String, directory: String) throws -> Figure {
        let qemuImg = Executables.find("qemu-img") ?? "/usr/bin/qemu-img"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var spawned: [pid_t] = []
        func stopAll() {
            for pid in spawned { kill(pid, SIGKILL) }
            for pid in spawned { var status: Int32 = 0; while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
            spawned = []
        }
        defer {
            stopAll()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let cpuBefore = TimedChild.childrenCPU()
        var figure = try timed {
            for i in 0..<count {
                let disk = "\(directory)/naive-\(i).qcow2", socket = "\(directory)/naive-\(i).sock"
                try run([qemuImg, "create", "-q", "-f", "qcow2", "-b", baseImage, "-F", "qcow2", disk], "qemu-img create \(disk)")
                spawned.append(try TimedChild.start([simulator, "--api-socket", "path=\(socket)"]))
                try waitForAnswer(socket)
                let config = "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":2},\"memory\":{\"size\":1073741824},"
                    + "\"payload\":{\"kernel\":\"\(kernel)\"},\"disks\":[{\"path\":\"\(disk)\"}],\"balloon\":{\"size\":0}}"
                try call(["-sf", "-X", "PUT", "--unix-socket", socket, "-H", "Content-Type: application/json",
                          "-d", config, "http://localhost/api/v1/vm.create"], "vm.create on \(socket)")
                try call(["-sf", "-X", "PUT", "--unix-socket", socket, "http://localhost/api/v1/vm.boot"], "vm.boot on \(socket)")
            }
        }
        // The VMMs' CPU counts once they are reaped.
        stopAll()
        figure.cpuSeconds = TimedChild.childrenCPU() - cpuBefore
        return figure
    }

    // MARK: - Specs

    /// Parsing every spec file with PyYAML (its libyaml loader where built), one file after
    /// another, as the Python runners load their configuration: parsing only, no validation
    /// and no plan. Nil without a Python 3 that has PyYAML.
    func parseSpecs(directory: String) throws -> Figure? {
        let script = """
            import os, sys, yaml
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            for name in sorted(os.listdir(sys.argv[1])):
                with open(os.path.join(sys.argv[1], name)) as f:
                    list(yaml.load_all(f, Loader=loader))
            """
        guard let python = ["/usr/bin/python3", Executables.find("python3")].compactMap({ $0 }).first(where: {
            FileManager.default.isExecutableFile(atPath: $0) && (try? TimedChild.run([$0, "-c", "import yaml"], peakRSS: false).status) == 0
        }) else { return nil }
        return try timed { try run([python, "-c", script, directory], "python3 (PyYAML) over \(directory)") }
    }

    // MARK: - Plumbing

    private func socketFiles(_ sockets: String, expected: Int) throws -> [String] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: sockets)) ?? []).filter { $0.hasSuffix(".sock") }.sorted()
        guard files.count == expected else { throw CLIError("found \(files.count) VMM sockets in \(sockets), expected \(expected)") }
        return files
    }

    private func call(_ arguments: [String], _ what: String) throws {
        try run([curl] + arguments, "curl \(what)")
    }

    private func run(_ argv: [String], _ what: String) throws {
        let result = try TimedChild.run(argv, peakRSS: false)
        guard result.status == 0 else { throw CLIError("naive baseline: \(what) exited \(result.status)") }
    }

    private func timed(_ body: () throws -> Void) throws -> Figure {
        let cpu = TimedChild.childrenCPU(), t = TimedChild.monotonic()
        try body()
        return Figure(seconds: TimedChild.monotonic() - t, cpuSeconds: TimedChild.childrenCPU() - cpu)
    }

    private static func balloonSize(inVmInfo data: Data) -> Int? {
        guard let info = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let config = info["config"] as? [String: Any], let balloon = config["balloon"] as? [String: Any] else { return nil }
        return (balloon["size"] as? NSNumber)?.intValue
    }

    /// `curl vmm.ping` until the VMM answers, for up to 5 s: a shell runner's `until curl …`
    /// loop, with a millisecond between tries.
    private func waitForAnswer(_ socket: String) throws {
        let deadline = TimedChild.monotonic() + 5
        while TimedChild.monotonic() < deadline {
            let ping = try TimedChild.run([curl, "-sf", "-o", "/dev/null", "--unix-socket", socket, "http://localhost/api/v1/vmm.ping"], peakRSS: false)
            if ping.status == 0 { return }
            usleep(1000)
        }
        throw CLIError("naive baseline: the VMM at \(socket) did not answer vmm.ping within 5 s")
    }
}
