import CSystemShim

/// This process's heap.
public enum ProcessMemory {
    /// Returns the free memory of every malloc arena to the kernel: a long-lived process
    /// whose threads allocate and free in turns otherwise keeps it, and its resident size
    /// creeps up.
    public static func giveBackFreed() {
        _ = cvg_malloc_trim()
    }

    /// Lets each malloc arena keep 16 MiB free at its top between bursts. A spec load
    /// allocates and frees on every core at once; by default each thread's arena returns
    /// its top to the kernel at every free and takes it back at the next allocation, and
    /// that churn (mprotect, madvise, page faults, TLB flushes on every core) was about a
    /// fifth of a cold load's CPU. For one-shot commands only: `malloc_trim` does not shrink
    /// a thread's arena, so a daemon's resident size would keep up to that much per arena
    /// (a 30-minute soak: a plateau 10 MiB higher, still rising).
    public static func keepArenaTops() {
        _ = cvg_keep_arena_tops(16 << 20)
    }
}
