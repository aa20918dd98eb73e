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
        return known.filter { name, observed in
            guard let verified = observed.verifiedAt else { return false }
            var window = resync
            if let policy = desired[ResourceID(.sandbox, name)]?.sandbox?.balloonPolicy,
               let interval = desired[ResourceID(.balloonPolicy, policy)]?.balloonPolicy.map({ Double($0.interval.milliseconds) / 1000 }) {
                window = min(window, interval)
            }
            return now - verified < window
        }
    }
}
