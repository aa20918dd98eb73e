/// What a guest's `/memory-stats` means, given its balloon. A guest whose balloon driver
/// negotiated deflate-on-OOM keeps the balloon's pages in `MemTotal` and counts them as
/// allocated; one without it drops them from `MemTotal`. Which one it is shows in the
/// figures: the balloon's pages cannot all have left a `MemTotal` above allocated − balloon.
struct GuestMemoryView: Equatable {
    /// The guest's own use, balloon excluded.
    var used: Int64
    /// Its `MemTotal` with an empty balloon.
    var capacity: Int64

    /// - Parameters: the guest's `MemTotal` and `MemAvailable`, what the VM has, and what
    ///   its balloon holds, in bytes.
    init(total: Int64, available: Int64, allocated: Int64, balloon: Int64) {
        let balloonInTotal = balloon > 0 && total > allocated - balloon
        used = max(0, total - available - (balloonInTotal ? balloon : 0))
        capacity = balloonInTotal ? total : total + balloon
    }

    init(memory: CloudHypervisor.GuestAgent.Memory, allocated: Int64, balloon: Int64) {
        self.init(total: memory.total, available: memory.available, allocated: allocated, balloon: balloon)
    }
}
