import Foundation
import Glibc
import Testing
@testable import Drivers

/// A real `qemu-system-x86_64 -S` (the vCPUs never run, so no guest is needed) with its QMP
/// socket in a fresh directory. Releasing it kills the QEMU it started, by PID, unless that
/// process was already reaped, and removes the directory.
final class QEMUUnderTest: @unchecked Sendable {
    static let binary = Executables.find("qemu-system-x86_64")
    static var installed: Bool { binary != nil }

    let directory: String
    let socket: String
    let pid: Int32
    private var reaped = false

    init(memory: String = "128M", extra: [String] = []) throws {
        directory = "/tmp/cvg-qmp-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = "\(directory)/qmp.sock"
        let argv = [Self.binary ?? "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", memory, "-nodefaults",
                    "-display", "none", "-S", "-qmp", "unix:\(socket),server=on,wait=off"] + extra
        pid = try Spawn.detached(argv, logPath: "\(directory)/qemu.log")
    }

    deinit {
        if !reaped {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Connects as soon as QEMU listens (polled, bounded by `timeout`).
    func connect(timeout: Double = 10) async throws -> QEMU.QMPClient {
        let start = ContinuousClock.now
        while true {
            do { return try await QEMU.QMPClient.connect(socket: socket, timeout: timeout) } catch QEMU.QMPError.connect(_, let error)
                where (error.code == ENOENT || error.code == ECONNREFUSED) && ContinuousClock.now - start < .seconds(timeout) {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Waits (polled, bounded) for the process to exit and reaps it; nil if it is still running.
    func waitForExit(timeout: Double) async throws -> Int32? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(timeout) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                return status
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    var log: String { (try? String(contentsOfFile: "\(directory)/qemu.log", encoding: .utf8)) ?? "" }
}

private let needsQEMU = Testing.ConditionTrait.enabled(if: QEMUUnderTest.installed,
                                                       "needs qemu-system-x86_64 (apt install qemu-system-x86)")

@Suite("QMP client against a real qemu-system-x86_64")
struct QMPTests {
    @Test("connect reads the greeting and negotiates capabilities, so commands are accepted", needsQEMU)
    func greeting() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        #expect(client.greeting.version.hasPrefix("7."), "greeting: \(client.greeting)")
        #expect(client.greeting.capabilities.contains("oob"))
        // Before qmp_capabilities QEMU refuses every command with CommandNotFound.
        let version = try await client.execute("query-version")
        #expect(version["qemu"]?["major"]?.intValue == 7)
    }

    @Test("query-status of a QEMU started with -S says prelaunch", needsQEMU)
    func prelaunch() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        #expect(try await client.status() == .prelaunch)
    }

    @Test("cont then stop: running then paused, with RESUME and STOP kept as events, not taken for replies", needsQEMU)
    func contStop() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        try await client.cont()
        #expect(try await client.status() == .running)
        try await client.stop()
        #expect(try await client.status() == .paused)
        let stop = try await client.waitForEvent("STOP", timeout: 5)
        #expect(stop.timestamp > 1_600_000_000)
        #expect(try await client.drainEvents().map(\.name) == ["RESUME"])
        #expect(try await client.events().isEmpty)
    }

    @Test("waiting for an event that never comes fails with a deadline error naming the event", needsQEMU)
    func eventDeadline() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        let start = ContinuousClock.now
        await #expect { _ = try await client.waitForEvent("SHUTDOWN", timeout: 0.2) } throws: { error in
            guard case QEMU.QMPError.timedOut(let socket, "event SHUTDOWN", 0.2) = error else { return false }
            return socket == qemu.socket
        }
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(try await client.status() == .prelaunch)
    }

    @Test("the event log keeps the newest 256 events and counts the ones it dropped", needsQEMU)
    func eventLogBound() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        for _ in 0..<130 {  // 260 events: RESUME, STOP, RESUME, ...
            try await client.cont()
            try await client.stop()
        }
        let events = try await client.drainEvents()
        #expect(events.count == QEMU.QMPClient.eventCapacity)
        #expect(await client.droppedEvents == 260 - QEMU.QMPClient.eventCapacity)
        #expect(events.first?.name == "RESUME" && events.last?.name == "STOP")
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
    }

    @Test("an unknown command fails with QMPError.command of class CommandNotFound, and the client stays usable", needsQEMU)
    func unknownCommand() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        do {
            _ = try await client.execute("no-such-command")
            Issue.record("no-such-command succeeded")
        } catch QEMU.QMPError.command(let cls, let desc, let command) {
            #expect(cls == "CommandNotFound")
            #expect(desc.contains("no-such-command"))
            #expect(command == "no-such-command")
        }
        #expect(try await client.status() == .prelaunch)
    }

    @Test("object-add memory-backend-ram + device_add pc-dimm of 128 MiB shows as plugged memory", needsQEMU)
    func pcDimmHotplug() async throws {
        let qemu = try QEMUUnderTest(memory: "128M,slots=2,maxmem=1G")
        let client = try await qemu.connect()
        let before = try await client.memorySizeSummary()
        #expect(before.baseMemory == 128 << 20)
        #expect((before.pluggedMemory ?? 0) == 0)
        try await client.addMemoryBackendRAM(id: "mem1", bytes: 128 << 20)
        try await client.addPCDimm(id: "dimm1", memdev: "mem1")
        let after = try await client.memorySizeSummary()
        #expect(after.baseMemory == 128 << 20)
        #expect(after.pluggedMemory == 128 << 20)
    }

    @Test("the balloon: query-balloon reports the size, qom-set polling interval, qom-get guest-stats has stats", needsQEMU)
    func balloon() async throws {
        let qemu = try QEMUUnderTest(extra: ["-device", "virtio-balloon-pci,id=balloon0"])
        let client = try await qemu.connect()
        #expect(try await client.queryBalloon() == 128 << 20)
        let path = "/machine/peripheral/balloon0"
        try await client.qomSet(path: path, property: "guest-stats-polling-interval", value: .int(2))
        #expect(try await client.qomGet(path: path, property: "guest-stats-polling-interval") == .int(2))
        let stats = try await client.qomGet(path: path, property: "guest-stats")
        #expect(stats["stats"]?.objectValue != nil, "guest-stats: \(stats)")
        // No guest driver has reported: QEMU says "not available" as 2^64-1, kept exact.
        #expect(stats["stats"]?["stat-total-memory"]?.uintValue == UInt64.max, "guest-stats: \(stats)")
        #expect(stats["last-update"]?.intValue == 0, "guest-stats: \(stats)")
    }

    @Test("query-balloon without a balloon device fails with DeviceNotActive", needsQEMU)
    func noBalloon() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        await #expect { try await client.queryBalloon() } throws: { error in
            guard case QEMU.QMPError.command(let cls, _, "query-balloon") = error else { return false }
            return cls == "DeviceNotActive"
        }
    }

    @Test("getfd passes an open file as SCM_RIGHTS; getfd without a descriptor is refused", needsQEMU)
    func getfd() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        let file = "\(qemu.directory)/state"
        let fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try await client.getfd(name: "mig", descriptor: fd)
        // QEMU now holds the name: closefd finds it (and would fail for an unknown name).
        _ = try await client.execute("closefd", arguments: ["fdname": "mig"])
        await #expect { _ = try await client.execute("closefd", arguments: ["fdname": "mig"]) } throws: { error in
            guard case QEMU.QMPError.command(_, let desc, "closefd") = error else { return false }
            return desc.contains("mig")
        }
        await #expect { _ = try await client.execute("getfd", arguments: ["fdname": "nofd"]) } throws: { error in
            guard case QEMU.QMPError.command(let cls, let desc, "getfd") = error else { return false }
            return cls == "GenericError" && desc.contains("SCM_RIGHTS")
        }
    }

    @Test("a deadline on a socket that never answers fails, naming the socket, in bounded time")
    func neverAnswers() async throws {
        let directory = "/tmp/cvg-qmp-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/silent.sock"
        let listener = try SilentListener(path: path)
        defer { _ = listener }
        let start = ContinuousClock.now
        do {
            _ = try await QEMU.QMPClient.connect(socket: path, timeout: 0.3)
            Issue.record("connected to a socket that never spoke")
        } catch QEMU.QMPError.timedOut(let socket, let command, let seconds) {
            #expect(socket == path)
            #expect(command == "greeting")
            #expect(seconds == 0.3)
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(290) && elapsed < .seconds(3), "took \(elapsed)")
    }

    @Test("a socket path longer than 107 bytes is refused before connecting")
    func longPath() async throws {
        let path = "/tmp/" + String(repeating: "q", count: 120)
        await #expect { _ = try await QEMU.QMPClient.connect(socket: path, timeout: 1) } throws: { error in
            guard case QEMU.QMPError.socketPathTooLong(let p) = error else { return false }
            return p == path
        }
    }

    @Test("a QEMU killed while a call waits fails that call with .closed instead of hanging", needsQEMU)
    func killedMidCall() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        kill(qemu.pid, SIGSTOP)  // it can no longer answer
        let call = Task { try await client.status(timeout: 30) }
        let start = ContinuousClock.now
        while client.commandInFlight != "query-status" {
            try #require(ContinuousClock.now - start < .seconds(5), "the call never started")
            try await Task.sleep(for: .milliseconds(5))
        }
        kill(qemu.pid, SIGKILL)
        do {
            let state = try await call.value
            Issue.record("a killed QEMU answered \(state)")
        } catch QEMU.QMPError.closed(let socket, let command) {
            #expect(socket == qemu.socket)
            #expect(command == "query-status")
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        // The connection stays broken: the next call fails at once.
        await #expect { try await client.stop() } throws: { error in
            guard case QEMU.QMPError.closed(_, "stop") = error else { return false }
            return true
        }
    }

    @Test("quit is answered, then the process exits with status 0", needsQEMU)
    func quit() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        try await client.quit()
        let status = try await qemu.waitForExit(timeout: 10)
        #expect(status == 0, "log: \(qemu.log)")
    }

    @Test("calls from many tasks at once each get their own reply (routed by id)", needsQEMU)
    func concurrentCalls() async throws {
        let qemu = try QEMUUnderTest(extra: ["-device", "virtio-balloon-pci,id=balloon0"])
        let client = try await qemu.connect()
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<40 {
                group.addTask {
                    switch i % 3 {
                    case 0: "status \(try await client.status())"
                    case 1: "cpus \(try await client.cpuCount())"
                    default: "balloon \(try await client.queryBalloon())"
                    }
                }
            }
            return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(results == ["status prelaunch": 14, "cpus 1": 13, "balloon \(128 << 20)": 13])
    }

    @Test("100 query-status round trips: every one answers prelaunch (median printed)", needsQEMU)
    func roundTrip() async throws {
        let qemu = try QEMUUnderTest()
        let client = try await qemu.connect()
        var samples: [Duration] = []
        for _ in 0..<100 {
            let start = ContinuousClock.now
            #expect(try await client.status() == .prelaunch)
            samples.append(ContinuousClock.now - start)
        }
        samples.sort()
        print("QMP query-status round trip: median \(samples[50]), p90 \(samples[90]), max \(samples[99])")
        #expect(samples[50] < .milliseconds(100))
    }
}

/// A Unix socket that listens and never accepts or writes: a peer that never answers.
private final class SilentListener {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket", code: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        } }
        guard bound == 0, listen(fd, 4) == 0 else {
            let code = errno
            close(fd)
            throw SystemError(call: "bind/listen(\(path))", code: code)
        }
    }

    deinit { close(fd) }
}
