import Resources

/// Per-resource exponential backoff with jitter: a resource whose action failed is left
/// alone for base × 2^(failures−1) seconds (capped), ±jitter, so a broken sandbox neither
/// spins the daemon nor delays the healthy ones.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double
    public var jitter: Double
    private var failures: [ResourceID: Int] = [:]
    private var until: [ResourceID: Double] = [:]
    private var random: @Sendable () -> Double

    public init(base: Double = 1, cap: Double = 300, jitter: Double = 0.2,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.random = random
    }

    /// Records a failure at `now`; returns the delay before the next attempt.
    @discardableResult
    public mutating func failed(_ id: ResourceID, now: Double) -> Double {
        let n = (failures[id] ?? 0) + 1
        failures[id] = n
        let raw = min(cap, base * Double(1 << min(n - 1, 30)))
        let delay = raw * (1 + jitter * (2 * random() - 1))
        until[id] = now + delay
        return delay
    }

    public mutating func succeeded(_ id: ResourceID) {
        failures[id] = nil
        until[id] = nil
    }

    public func failureCount(_ id: ResourceID) -> Int { failures[id] ?? 0 }

    /// Resources still waiting at `now`.
    public func waiting(now: Double) -> Set<ResourceID> {
        Set(until.filter { $0.value > now }.keys)
    }

    /// When the next waiting resource may be tried again.
    public func nextRetry(after now: Double) -> Double? {
        until.values.filter { $0 > now }.min()
    }
}
