import Foundation
import Testing
@testable import Drivers

/// Observation trusts a VMM's last answer while its record, process and socket are
/// unchanged, and asks again at each resync: a change made behind its back through the
/// VMM's own API is missed until then, and seen then.
@Suite("Observation cache and resync", .serialized)
struct ObservationCacheTests {
    @Test("a VM paused by hand through its API is trusted as running until the resync, then resumed")
    func pausedBehindTheCache() throws {
        let h = try CLIHarness()
        try h.setSpecs(CrashSafetyTests.specs())
        #expect(h.converge("apply", h.specs).status == 0)
        let socket = "\(h.state)/ch/sockets/cvg-a.sock"
        let pause = CLIHarness.exec(["/usr/bin/curl", "-sf", "--unix-socket", socket, "-X", "PUT", "http://localhost/api/v1/vm.pause"])
        #expect(pause.status == 0, "\(pause.output)")

        // Within the resync window the last answer (running) is trusted: nothing to do.
        #expect(h.converge("plan", h.specs).status == 0, "the cached answer was not trusted")
        // `get` asks every VMM: it sees the pause.
        #expect(h.converge("get", "sandboxes", "a").stdout.contains("paused"))
        // A resync asks again: the pause is drift, and apply resumes it.
        let plan = h.converge("plan", h.specs, "--resync", "0s")
        #expect(plan.status == 2 && plan.stdout.contains("resume"), "\(plan.output)")
        #expect(h.converge("apply", h.specs, "--resync", "0s").status == 0)
        #expect(h.converge("get", "sandboxes", "a").stdout.contains("running"))
        #expect(h.converge("plan", h.specs, "--resync", "0s").status == 0)
    }

    @Test("what changes the record, the process or the socket is seen at once, cache or not")
    func fingerprintChanges() throws {
        let h = try CLIHarness()
        try h.setSpecs(CrashSafetyTests.specs())
        #expect(h.converge("apply", h.specs).status == 0)
        // The VMM killed by hand: its pid and start time no longer match.
        let pid = try #require(h.vmmPIDs().first)
        kill(pid, SIGKILL)
        let plan = h.converge("plan", h.specs)
        #expect(plan.status == 2 && plan.stdout.contains("start"), "\(plan.output)")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(h.converge("plan", h.specs).status == 0)
    }
}
