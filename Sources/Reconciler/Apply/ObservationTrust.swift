import Resources

/// Which earlier answers a pass may trust instead of asking the VMM again: those given
/// within `resync` seconds, sooner for a sandbox whose balloon policy wants fresh figures
/// (its interval), and never one of a sandbox acted on since. The runtime still checks
/// each against the host (record, process, socket) before trusting it.
struct ObservationTrust {
    /// Seconds an answer stays trusted; 0 asks every VMM every pass.
    var resync: Double

    func trusted(_ known: [String: ObservedSandbox], desired: [ResourceID: Resource], now: Double = Clock.now) -> [String: ObservedSandbox] {
        guard resync > 0 else { return [:] }
        var result: [String: ObservedSandbox] = [:]
        for (name, observed) in known {
            guard let verified = observed.verifiedAt else { continue }
            if now - verified < window(for: name, desired) * Self.spread(name) { result[name] = observed }
        }
        return result
    }

    /// How long an answer about sandbox `name` stays good: its balloon policy's interval
    /// when that is shorter than the resync.
    private func window(for name: String, _ desired: [ResourceID: Resource]) -> Double {
        guard let spec = desired[ResourceID(.sandbox, name)]?.sandbox, let policyName = spec.balloonPolicy,
              let policy = desired[ResourceID(.balloonPolicy, policyName)]?.balloonPolicy else { return resync }
        return min(resync, Double(policy.interval.milliseconds) / 1000)
    }

    /// 0.75…1.25, fixed per name: sandboxes verified in one pass come due in different
    /// passes, so a resync asks a share of the VMMs each pass instead of all in one.
    static func spread(_ name: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return 0.75 + Double(hash % 1000) / 2000
    }
}
