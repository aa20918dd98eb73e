import Foundation

/// Where one pass spent its time, phase by phase (seconds, summed over the pass's rounds):
/// what `converge bench` breaks a pass down by.
public struct PhaseTimes: Sendable {
    public private(set) var seconds: [(phase: String, seconds: Double)] = []
    private var last = Date()

    public init() {}

    /// Ends the current phase as `phase` (added to it if it ran before).
    mutating func lap(_ phase: String) {
        let now = Date()
        let elapsed = now.timeIntervalSince(last)
        last = now
        if let i = seconds.firstIndex(where: { $0.phase == phase }) { seconds[i].seconds += elapsed } else { seconds.append((phase, elapsed)) }
    }
}
