import Resources

/// What a runtime can change on a live VM. The planner asks these instead of assuming one
/// VMM: a change a runtime cannot make live is a replacement that keeps the disk, and a
/// state it cannot reach is refused with the reason.
public struct RuntimeCapabilities: Sendable, Hashable {
    /// vCPUs change on a running VM, up to the boot-time ceiling (`limits.cpus`).
    public var liveCPUResize: Bool
    /// Memory grows on a running VM, up to the boot-time ceiling (`limits.memory`).
    public var liveMemoryGrow: Bool
    /// Memory shrinks on a running VM, down to what it booted with.
    public var liveMemoryShrink: Bool
    /// Memory and device state can be saved and restored (snapshots, suspend, fork).
    public var memorySnapshot: Bool
    /// A balloon device sized from a BalloonPolicy.
    public var balloon: Bool
    /// The VM can be paused and resumed in place.
    public var pause: Bool
    /// A running VM can be forked live (its memory and disk cloned); by default where
    /// memory can be saved.
    public var fork: Bool
    /// At most this many sandboxes of the runtime may exist on the host at once (Cuttlefish's
    /// TAP sets); a create past it waits, `Pending`, until one is destroyed. Nil: no cap.
    public var instanceLimit: Int?

    public init(liveCPUResize: Bool, liveMemoryGrow: Bool, liveMemoryShrink: Bool, memorySnapshot: Bool, balloon: Bool, pause: Bool,
                fork: Bool? = nil, instanceLimit: Int? = nil) {
        self.liveCPUResize = liveCPUResize
        self.liveMemoryGrow = liveMemoryGrow
        self.liveMemoryShrink = liveMemoryShrink
        self.memorySnapshot = memorySnapshot
        self.balloon = balloon
        self.pause = pause
        self.fork = fork ?? memorySnapshot
        self.instanceLimit = instanceLimit
    }

    /// Everything: what the planner assumes of a runtime it was not told about (no
    /// sandbox of an unknown runtime can be built anyway).
    public static let all = RuntimeCapabilities(liveCPUResize: true, liveMemoryGrow: true, liveMemoryShrink: true,
                                                memorySnapshot: true, balloon: true, pause: true)

    /// What a runtime that declares nothing can do: start, stop and replace.
    public static let none = RuntimeCapabilities(liveCPUResize: false, liveMemoryGrow: false, liveMemoryShrink: false,
                                                 memorySnapshot: false, balloon: false, pause: false)
}
