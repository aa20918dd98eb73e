import Foundation
import Glibc
import Testing
@testable import Drivers

/// The balloon loop of `converge run`: each policy interval it asks every guest what it
/// uses (through the simulator's guest agent) and sizes the balloon.
@Suite("converge run: balloon loop", .serialized)
struct BalloonDaemonTests {
    static let specs = """
    apiVersion: converge.dev/v1
    kind: BalloonPolicy
    metadata: {name: tight}
    spec: {interval: 1s, minVM: 256Mi, buffer: 256Mi, bufferRatio: 0.25}
    ---
    apiVersion: converge.dev/v1
    kind: Sandbox
    metadata: {name: big}
    spec: {cpus: 1, memory: 4Gi, disk: 2Gi, source: {image: ubuntu-base.1}, balloon: {policy: tight}}
    ---
    apiVersion: converge.dev/v1
    kind: Sandbox
    metadata: {name: plain}
    spec: {cpus: 1, memory: 2Gi, disk: 2Gi, source: {image: ubuntu-base.1}}

    """

    static func balloonBytes(_ h: CLIHarness, _ name: String) -> Int? {
        (DaemonTests.status(h, name)?["balloon"] as? [String: Any])?["sizeBytes"] as? Int
    }

    /// When each pass woken by the balloon interval that failed was logged, oldest first.
    static func failedBalloonPasses(_ log: String) -> [Date] {
        let format = ISO8601DateFormatter()
        return log.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, fields[1].hasPrefix("pass (balloon interval) failed:") else { return nil }
            return format.date(from: String(fields[0]))
        }
    }

    @Test("inflates an idle guest's balloon, gives memory back when the guest needs it, and reports the bytes reclaimed")
    func loop() throws {
        let h = try CLIHarness()
        try h.setSpecs(Self.specs)
        let daemon = try DaemonTests.Daemon(h)
        // The simulated guest uses 200Mi and sees 4096 − 64Mi (its kernel's reserve):
        // 4032 − (max(250, 256) + 256) = 3520Mi.
        #expect(DaemonTests.until { Self.balloonBytes(h, "big") == 3520 << 20 }, "\(daemon.log)")
        #expect(DaemonTests.until { DaemonTests.metric(h, "converge_balloon_reclaimed_bytes") == Double(3520 << 20) }, "\(daemon.log)")
        #expect(Self.balloonBytes(h, "plain") == 0)
        let big = try #require(DaemonTests.status(h, "big")?["balloon"] as? [String: Any])
        #expect(big["guestUsedBytes"] as? Int == 200 << 20 && big["policy"] as? String == "tight")

        // The guest starts using 2Gi: within an interval the balloon shrinks to 4032 − (2560 + 256) = 1216Mi.
        try "\(2 << 30)".write(toFile: "\(h.state)/ch/sockets/cvg-big.sock.guest-used", atomically: true, encoding: .utf8)
        #expect(DaemonTests.until { Self.balloonBytes(h, "big") == 1216 << 20 }, "\(daemon.log)")
        // The pass is logged after its status files are written.
        #expect(DaemonTests.until(5) { daemon.log.contains("pass (balloon interval)") }, "\(daemon.log)")
        #expect(h.converge("events", "big").stdout.contains("BalloonResized"))

        // The spec drops the policy: the balloon is deflated to nothing.
        try Self.specs.replacingOccurrences(of: ", balloon: {policy: tight}", with: "")
            .write(toFile: "\(h.specs)/specs.yaml", atomically: true, encoding: .utf8)
        #expect(DaemonTests.until { Self.balloonBytes(h, "big") == 0 }, "\(daemon.log)")
        #expect(daemon.stop(SIGTERM) == 0, "\(daemon.log)")
        #expect(h.converge("plan", h.specs).status == 0)
    }

    @Test("passes that keep failing do not make the balloon loop spin: it still waits its interval")
    func failingPasses() throws {
        let h = try CLIHarness()
        try h.setSpecs(Self.specs)
        let daemon = try DaemonTests.Daemon(h)
        #expect(DaemonTests.until { Self.balloonBytes(h, "big") == 3520 << 20 }, "\(daemon.log)")
        // An empty spec directory is refused on every pass (it never means "destroy everything").
        try FileManager.default.removeItem(atPath: "\(h.specs)/specs.yaml")
        #expect(DaemonTests.until { daemon.log.contains("failed") }, "\(daemon.log)")
        // Four failing passes woken by the balloon interval: a loop that waits its 1s interval
        // from the start of each pass spreads them over at least 3s, which the daemon's own
        // timestamps (whole seconds) show as 2 or more; a spinning loop runs them in milliseconds.
        #expect(DaemonTests.until(20) { Self.failedBalloonPasses(daemon.log).count >= 4 }, "\(daemon.log.suffix(2000))")
        let times = Self.failedBalloonPasses(daemon.log).prefix(4)
        let spread = try #require(times.last).timeIntervalSince(try #require(times.first))
        #expect(times.count == 4 && spread >= 2, "4 failing passes within \(spread)s: \(daemon.log.suffix(2000))")
        #expect(Self.balloonBytes(h, "big") == 3520 << 20)
        #expect(daemon.stop(SIGTERM) == 0, "\(daemon.log)")
    }
}
