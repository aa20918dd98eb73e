/// What `/proc/meminfo` says in a booted Linux guest with the virtio-balloon driver
/// (docs/guest-agent.md, section 2), in bytes.
///
/// - RAM is `memory.size + memory.hotplugged_size`; the kernel keeps RAM/64 (4 KiB pages) for itself.
/// - With `deflate_on_oom` (the driver negotiates `DEFLATE_ON_OOM`), ballooned pages stay in
///   `MemTotal` and look allocated, so they come off `MemAvailable`.
/// - Without it (or without a balloon) ballooned pages leave `MemTotal` instead.
struct GuestMemory: Equatable, Sendable {
    /// `MemTotal`.
    var total: Int64
    /// `MemAvailable`.
    var available: Int64
    /// `MemFree`: the same as `available`, since the simulated guest has no page cache.
    var free: Int64 { available }

    /// The figures of a booted guest with `config` whose processes use `used` bytes.
    init(config: JSONValue, used: Int64) {
        let memory = MemoryAccounting(config: config)
        let ram = max(0, memory.configuredTotal)
        let reserve = ram / 64 / 4096 * 4096
        let balloon = max(0, memory.balloon)
        let used = max(0, used)
        if config.present("balloon")?["deflate_on_oom"]?.boolValue == true {
            total = ram - reserve
            available = max(0, total - used - balloon)
        } else {
            total = max(0, ram - reserve - balloon)
            available = max(0, total - used)
        }
    }

    /// The `/memory-stats` body, members in the order of the protocol document.
    var json: String { "{\"total\":\(total),\"available\":\(available),\"free\":\(free)}" }
}
