import Foundation
import Glibc
import Testing
@testable import Drivers

/// `runtime: qemu` with real Linux guests (software emulation here): what the simulator
/// can only imitate. Each guest serves its boot token, /proc/meminfo and a file on its
/// disk over HTTP (scripts/test-guest).
@Suite("Real guests under QEMU", .serialized, .enabled(if: TestGuest.available, TestGuest.missing))
struct RealGuestTests {
    /// One sandbox of the test: its name, and what differs from a running 384Mi guest.
    struct G {
        var name: String
        var state = "running"
        var memory = "384Mi"
        var policy: String? = nil
    }

    static func specs(_ sandboxes: [G], policy: String? = nil) -> String {
        var text = """
        apiVersion: converge.dev/v1
        kind: TapPool
        metadata: {name: default}
        spec: {size: 2, subnet: 10.200.0.0/16, guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}}

        """
        if let policy {
            text += "---\napiVersion: converge.dev/v1\nkind: BalloonPolicy\nmetadata: {name: tight}\nspec: \(policy)\n"
        }
        for s in sandboxes {
            text += """
            ---
            apiVersion: converge.dev/v1
            kind: Sandbox
            metadata: {name: \(s.name)}
            spec: {runtime: qemu, state: \(s.state), cpus: 1, memory: \(s.memory), disk: 1Gi, limits: {cpus: 1, memory: 1Gi}, source: {image: test-guest}\(s.policy.map { ", balloon: {policy: \($0)}" } ?? "")}

            """
        }
        return text
    }

    @Test("two guests in their slots: they answer, cannot reach each other, pause, stop, resize and come back from a kill")
    func lifecycle() throws {
        let h = try CLIHarness()
        try h.setSpecs(Self.specs([G(name: "g1"), G(name: "g2")]))
        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 0, "\(apply.output)")
        let g1 = try h.guest("g1"), g2 = try h.guest("g2")
        #expect(g1.namespace != g2.namespace)

        // Each answers at the slot's guest address from inside its slot, and at its slot
        // address from the host; the next plan is empty.
        let token1 = try #require(h.waitForGuest(g1), "g1 never answered; serial: \(h.serialTail("g1"))")
        let token2 = try #require(h.waitForGuest(g2), "g2 never answered; serial: \(h.serialTail("g2"))")
        #expect(token1 != token2)
        #expect(h.http(g1.slotAddress, "/token") == token1 && h.http(g2.slotAddress, "/token") == token2)
        #expect(h.converge("plan", h.specs).status == 0)

        // Slots never reach each other, in either direction, while the host reaches both.
        #expect(h.http(g2.slotAddress, "/token", from: g1.namespace, timeout: 2) == nil)
        #expect(h.http(g1.slotAddress, "/token", from: g2.namespace, timeout: 2) == nil)

        // Pause and resume: the guest is frozen, then carries on with its memory (the token).
        try h.setSpecs(Self.specs([G(name: "g1", state: "paused"), G(name: "g2")]))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.http("192.168.0.2", "/token", from: g1.namespace, timeout: 2) == nil)
        try h.setSpecs(Self.specs([G(name: "g1"), G(name: "g2")]))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.http("192.168.0.2", "/token", from: g1.namespace) == token1)

        // Stop and start: a new boot (a new token) on the same disk.
        #expect(h.http("192.168.0.2", "/disk?write=kept-across-boots", from: g1.namespace) == "kept-across-boots")
        try h.setSpecs(Self.specs([G(name: "g1", state: "stopped"), G(name: "g2")]))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.vmmPIDs().count == 1)
        try h.setSpecs(Self.specs([G(name: "g1"), G(name: "g2")]))
        #expect(h.converge("apply", h.specs).status == 0)
        let rebooted = try h.guest("g1")
        let token1b = try #require(h.waitForGuest(rebooted), "g1 never came back; serial: \(h.serialTail("g1"))")
        #expect(token1b != token1)
        #expect(h.http("192.168.0.2", "/disk", from: rebooted.namespace) == "kept-across-boots")

        // Memory grows in place: the guest's own MemTotal grows, same boot.
        let before = try #require(h.memTotal(g2))
        try h.setSpecs(Self.specs([G(name: "g1"), G(name: "g2", memory: "768Mi")]))
        let resize = h.converge("apply", h.specs)
        #expect(resize.status == 0 && resize.output.contains("Sandbox/g2 resize"), "\(resize.output)")
        #expect(h.http("192.168.0.2", "/token", from: g2.namespace) == token2)
        let after = try #require(h.memTotal(g2))
        #expect(after - before >= 300 << 20, "MemTotal \(before) → \(after)")

        // SIGKILL the VMM: the next pass notices and brings the sandbox back as its spec says.
        kill(g2.pid, SIGKILL)
        #expect(h.waitUntilGone(g2.pid))
        let repair = h.converge("apply", h.specs)
        #expect(repair.status == 0, "\(repair.output)")
        #expect(h.converge("events", "Sandbox/g2").stdout.contains("VMMExited"))
        let back = try h.guest("g2")
        #expect(back.pid != g2.pid)
        #expect(h.waitForGuest(back) != nil, "g2 never came back; serial: \(h.serialTail("g2"))")

        // Destroy everything: no QEMU process, socket, namespace, TAP, overlay or state file left.
        try FileManager.default.removeItem(atPath: h.specs)
        try FileManager.default.createDirectory(atPath: h.specs, withIntermediateDirectories: true)
        #expect(h.converge("apply", h.specs, "--allow-empty").status == 0)
        #expect(h.ownProcesses().isEmpty && h.leftovers().isEmpty, "\(h.leftovers())")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(h.netPrefix) }.isEmpty)
        #expect(!NetworkCleanup.links().contains { $0.hasPrefix(h.netPrefix) })
        let slots = (try? FileManager.default.contentsOfDirectory(atPath: "\(h.state)/network/slots")) ?? []
        #expect(slots.isEmpty, "\(slots)")
    }
}

/// A guest as `converge get` shows it.
struct GuestView {
    var pid: Int32
    var namespace: String
    var slotAddress: String
}

extension CLIHarness {
    func guest(_ name: String) throws -> GuestView {
        let row = try #require((json(converge("get", "sandboxes", name, "--json").stdout) as? [[String: Any]])?.first)
        return GuestView(pid: Int32(try #require(row["pid"] as? Int)), namespace: try #require(row["namespace"] as? String),
                         slotAddress: try #require(row["address"] as? String))
    }

    /// `GET http://ADDRESS:8080PATH`, from inside `namespace` if given; nil on no answer.
    func http(_ address: String, _ path: String, from namespace: String? = nil, timeout: Int = 5) -> String? {
        var argv = ["/usr/bin/curl", "-sf", "-m", "\(timeout)", "http://\(address):8080\(path)"]
        if let namespace { argv = [NetworkCleanup.tool("ip"), "netns", "exec", namespace] + argv }
        let run = CLIHarness.exec(argv)
        return run.status == 0 ? run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// The guest's boot token once it answers (boot under software emulation takes seconds).
    func waitForGuest(_ guest: GuestView, deadline seconds: Double = 120) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let token = http("192.168.0.2", "/token", from: guest.namespace, timeout: 2), !token.isEmpty { return token }
            usleep(250_000)
        }
        return nil
    }

    /// The guest's own MemTotal, in bytes.
    func memTotal(_ guest: GuestView) -> Int64? {
        guard let meminfo = http("192.168.0.2", "/meminfo", from: guest.namespace),
              let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kb = Int64(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb << 10
    }

    func serialTail(_ name: String) -> String {
        let text = (try? String(contentsOfFile: "\(state)/qemu/sandboxes/cvg-\(name)/serial.log", encoding: .utf8)) ?? ""
        return String(text.suffix(600))
    }

    /// Polls until `pid` is gone or a zombie (a killed VMM), up to 5 s.
    func waitUntilGone(_ pid: Int32) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if CLIUserStoryHelpers.isZombie(pid) { return true }
            usleep(10_000)
        }
        return false
    }
}

/// A BalloonPolicy on a real guest, sized from the guest's own statistics.
@Suite("Balloons on real guests", .serialized, .enabled(if: TestGuest.available, TestGuest.missing))
struct RealGuestBalloonTests {
    @Test("a balloon pass shrinks the guest's memory as it reports it, and gives memory back when the guest needs it")
    func balloon() throws {
        let h = try CLIHarness()
        let policy = "{interval: 1s, minVM: 128Mi, buffer: 64Mi, bufferRatio: 1.0}"
        try h.setSpecs(RealGuestTests.specs([.init(name: "b", memory: "512Mi", policy: "tight")], policy: policy))
        #expect(h.converge("apply", h.specs).status == 0)
        let guest = try h.guest("b")
        #expect(h.waitForGuest(guest) != nil, "b never answered; serial: \(h.serialTail("b"))")
        let full = try #require(h.memTotal(guest))
        h.waitForGuestStatistics("b")

        // The guest reports its use through the balloon's statistics; the pass inflates.
        let inflate = h.converge("apply", h.specs)
        #expect(inflate.status == 0 && inflate.output.contains("Sandbox/b balloon"), "\(inflate.output)")
        // Measured once the guest's driver has reached the size asked, not on the way there.
        let balloon = try #require(h.waitForBalloonSettled("b"), "the balloon never reached its target: \(h.balloonRow("b"))")
        #expect((balloon["sizeBytes"] as? Int ?? 0) > 128 << 20, "\(balloon)")
        let shrunk = try #require(h.waitForMemTotal(guest) { $0 < full - (128 << 20) })

        // The guest needs memory: the next pass deflates, and the guest gets it back.
        #expect(h.http("192.168.0.2", "/fill?mb=60", from: guest.namespace, timeout: 30) == "60")
        let deadline = Date().addingTimeInterval(60)
        var grown: Int64?
        var passes: [String] = []
        while grown == nil && Date() < deadline {
            let pass = h.converge("apply", h.specs)
            #expect(pass.status == 0)
            let total = h.memTotal(guest)
            passes.append("MemTotal \(total.map(String.init) ?? "?"): \(pass.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            grown = total.flatMap { $0 > shrunk + (32 << 20) ? $0 : nil }
            if grown == nil { usleep(500_000) }
        }
        #expect(grown != nil, "MemTotal stayed near \(shrunk) after the guest filled 60 MiB; balloon now \(h.balloonRow("b")); the passes:\n\(passes.suffix(8).joined(separator: "\n"))")
        #expect(h.http("192.168.0.2", "/token", from: guest.namespace) != nil)
    }
}

extension CLIHarness {
    /// The sandbox's balloon as `get --json` shows it, for failure messages.
    func balloonRow(_ name: String) -> String {
        let row = (json(converge("get", "sandboxes", name, "--json").stdout) as? [[String: Any]])?.first
        return "\(row?["balloon"] ?? "none")"
    }

    /// The balloon row once QEMU reports the size last asked (the guest's driver moves
    /// page by page, slowly under software emulation); nil after `seconds`.
    func waitForBalloonSettled(_ name: String, seconds: Double = 60) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let row = (json(converge("get", "sandboxes", name, "--json").stdout) as? [[String: Any]])?.first
            if let balloon = row?["balloon"] as? [String: Any], let size = balloon["sizeBytes"] as? Int,
               let target = balloon["targetBytes"] as? Int, size == target { return balloon }
            usleep(200_000)
        }
        return nil
    }

    /// Polls the guest's MemTotal until `done` holds (the balloon driver gets there page by page).
    func waitForMemTotal(_ guest: GuestView, seconds: Double = 30, _ done: (Int64) -> Bool) -> Int64? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let total = memTotal(guest), done(total) { return total }
            usleep(200_000)
        }
        return nil
    }
}
