import Foundation
import Resources

/// The records of a state directory's pools and slots, under `DIRECTORY/pools` and
/// `DIRECTORY/slots`: written before what they name is made, removed after it is gone.
/// Read from disk once and cached: `SlotNetwork` is their only writer while it holds the
/// state directory's lock. Reading changes nothing on disk (plan reads them too).
struct SlotRecords {
    struct Pool: Codable { var name: String; var spec: TapPoolSpec }
    struct Slot: Codable, Equatable {
        var pool: String
        var index: Int
        var claimedBy: String?
        var ready: Bool
        /// Released and waiting to be torn down; never handed out again.
        var retired: Bool? = nil
        /// The addressing it was built with (`SlotLayout.key`); a claim takes only slots of
        /// the pool's current spec.
        var layout: String? = nil

        var key: String { "\(pool)/\(index)" }
    }

    let directory: String
    private var poolCache: [String: Pool]?
    private var slotCache: [String: Slot]?
    private var slotsDirectoryMade = false
    private var temporariesSwept = false

    init(directory: String) { self.directory = directory }

    private var poolsDirectory: String { "\(directory)/pools" }
    private var slotsDirectory: String { "\(directory)/slots" }
    private func poolPath(_ pool: String) -> String { "\(poolsDirectory)/\(pool).json" }
    private func slotPath(_ pool: String, _ index: Int) -> String { "\(slotsDirectory)/\(pool)-\(index).json" }

    // MARK: - Pools

    mutating func pools() -> [String: Pool] {
        if let poolCache { return poolCache }
        var loaded: [String: Pool] = [:]
        for file in (try? FileManager.default.contentsOfDirectory(atPath: poolsDirectory)) ?? [] where file.hasSuffix(".json") {
            if let data = FileManager.default.contents(atPath: "\(poolsDirectory)/\(file)"),
               let record = try? JSONDecoder().decode(Pool.self, from: data) { loaded[record.name] = record }
        }
        poolCache = loaded
        return loaded
    }

    mutating func write(_ pool: Pool) throws {
        try FileManager.default.createDirectory(atPath: poolsDirectory, withIntermediateDirectories: true)
        sweepTemporaries()
        try AtomicFile.write(try JSONEncoder().encode(pool), to: poolPath(pool.name))
        _ = pools()
        poolCache![pool.name] = pool
    }

    mutating func forgetPool(_ name: String) throws {
        try AtomicFile.remove(poolPath(name))
        _ = pools()
        poolCache![name] = nil
    }

    // MARK: - Slots

    mutating func slots(of pool: String? = nil) -> [Slot] {
        if slotCache == nil {
            var loaded: [String: Slot] = [:]
            for file in (try? FileManager.default.contentsOfDirectory(atPath: slotsDirectory)) ?? [] where file.hasSuffix(".json") {
                if let data = FileManager.default.contents(atPath: "\(slotsDirectory)/\(file)"),
                   let record = try? JSONDecoder().decode(Slot.self, from: data) {
                    loaded[record.key] = record
                }
            }
            slotCache = loaded
        }
        return slotCache!.values.filter { pool == nil || $0.pool == pool }.sorted { ($0.pool, $0.index) < ($1.pool, $1.index) }
    }

    /// The slot recorded as `pool/index`, as it is now.
    mutating func slot(_ key: String) -> Slot? {
        _ = slots()
        return slotCache![key]
    }

    mutating func write(_ slot: Slot) throws {
        sweepTemporaries()
        if !slotsDirectoryMade {
            try FileManager.default.createDirectory(atPath: slotsDirectory, withIntermediateDirectories: true)
            slotsDirectoryMade = true
        }
        try AtomicFile.write(try JSONEncoder().encode(slot), to: slotPath(slot.pool, slot.index))
        _ = slots()
        slotCache![slot.key] = slot
    }

    mutating func forget(_ pool: String, _ index: Int) throws {
        try AtomicFile.remove(slotPath(pool, index))
        _ = slots()
        slotCache!["\(pool)/\(index)"] = nil
    }

    /// The first write sweeps what a killed writer left (`NAME.tmp.PID`).
    private mutating func sweepTemporaries() {
        guard !temporariesSwept else { return }
        AtomicFile.removeAbandonedTemporaries(in: poolsDirectory)
        AtomicFile.removeAbandonedTemporaries(in: slotsDirectory)
        temporariesSwept = true
    }
}
