/// One sandbox's memory at one moment, as the balloon loop saw it; `converge stats memory`
/// reads these back. Bytes throughout.
public struct MemorySample: Hashable, Sendable, Codable {
    public var name: String
    /// Seconds since 1970 (`Clock.now`).
    public var at: Double
    /// What the VM has: boot size plus hot-plugged memory.
    public var allocated: Int64
    /// What the guest says it uses; nil when it was not asked or did not answer.
    public var used: Int64?
    /// The balloon size last asked of the VMM (its target).
    public var balloon: Int64
    /// What the balloon holds now: memory taken back from the guest.
    public var reclaimed: Int64

    public init(name: String, at: Double, allocated: Int64, used: Int64?, balloon: Int64, reclaimed: Int64) {
        self.name = name
        self.at = at
        self.allocated = allocated
        self.used = used
        self.balloon = balloon
        self.reclaimed = reclaimed
    }

    /// The sample of `sandbox` at `at`; nil when it has no balloon (not booted, no device).
    public init?(_ sandbox: ObservedSandbox, at: Double) {
        guard let b = sandbox.balloon else { return nil }
        // The target is what Converge asked; the size is what the guest's driver gave back
        // so far. An adapter leaves the target nil when it is not known: read it as the size.
        self.init(name: sandbox.name, at: at, allocated: b.allocated.bytes, used: b.guestUsed?.bytes,
                  balloon: (b.target ?? b.size).bytes, reclaimed: b.size.bytes)
    }
}

/// How much memory history is kept, and how often it is written.
public struct MemoryRetention: Sendable, Equatable {
    /// Samples older than this many seconds are deleted.
    public var maximumAge: Double
    /// At most this many samples per sandbox, the newest.
    public var maximumPerSandbox: Int
    /// A sandbox sampled less than this many seconds ago is not sampled again: a daemon that
    /// passes every second must not write a row per second per sandbox.
    public var minimumInterval: Double

    public init(maximumAge: Double = 7 * 86_400, maximumPerSandbox: Int = 10_000, minimumInterval: Double = 5) {
        self.maximumAge = maximumAge
        self.maximumPerSandbox = maximumPerSandbox
        self.minimumInterval = minimumInterval
    }

    public static let standard = MemoryRetention()
}
