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
        add(phase, seconds: now.timeIntervalSince(last))
        last = now
    }

    /// Adds time spent around the reconciler's pass (loading specs, writing status files).
    public mutating func add(_ phase: String, seconds elapsed: Double) {
        if let i = seconds.firstIndex(where: { $0.phase == phase }) { seconds[i].seconds += elapsed } else { seconds.append((phase, elapsed)) }
    }
}
