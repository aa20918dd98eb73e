import CSystemShim

/// This process's heap.
public enum ProcessMemory {
    /// Returns the free memory of every malloc arena to the kernel: a long-lived process
    /// whose threads allocate and free in turns otherwise keeps it, and its resident size
    /// creeps up.
    public static func giveBackFreed() {
        _ = cvg_malloc_trim()
    }
}
