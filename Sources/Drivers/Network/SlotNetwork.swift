import CSystemShim
import Dispatch
import Foundation
import Glibc
import Reconciler
import Resources
import Synchronization

/// TapPools on the host: each slot is a network namespace with a veth pair (host end in
/// the root namespace), a TAP device and NAT rules. Slots are recorded in the state
/// directory before they are made and the record is removed after they are gone, so a
/// crash always leaves something to find. Claims and refills of all pools go through this
/// actor; slot creation runs on a thread inside the new namespace, with no process spawned.
public actor SlotNetwork: HostNetwork {
    public let directory: String
    public let prefix: String
    /// Slots chosen but not yet recorded: set before the first suspension point, so two
    /// concurrent claims or creations never pick the same slot ("pool/index").
    private var reservations: [String: Int] = [:]
    private func reserve(_ key: String) { reservations[key, default: 0] += 1 }
    private func unreserve(_ key: String) {
        reservations[key, default: 1] -= 1
        if reservations[key] == 0 { reservations[key] = nil }
    }
    /// Being built, torn down or repaired right now.
    private func busy(_ key: String) -> Bool { reservations[key] != nil || teardowns[key] != nil }

    /// Pool and slot records, read from disk once: this actor is their only writer while
    /// it holds the state directory's lock.
    private var records: SlotRecords
    /// Slots built at the same time during a refill.
    static let refillWidth = 4
    /// Teardowns of released slots still running, by "pool/index".
    private var teardowns: [String: Task<Void, Never>] = [:]
    /// Pools being removed: a concurrent rules rewrite must not bring their rules back.
    private var removing: Set<String> = []
    /// Each pool's last inspection of its host objects (visiting every namespace costs a
    /// thousand-slot pool ~0.2 s of CPU), with the slot records it was made against: trusted
    /// for a resync while they are unchanged and nothing is being built or torn down. A
    /// slot broken by hand is seen at the next inspection, as a VMM changed by hand is.
    private var inspected: [String: (at: Double, records: [SlotRecords.Slot], health: Health)] = [:]
    /// What this actor changes (a repair, say, which keeps the records) is inspected anew.
    private func forgetInspections() { inspected = [:] }

    /// - Parameters:
    ///   - directory: where pool and slot records live (in the state directory).
    ///   - prefix: the first letters of every host object's name (1–5 lowercase letters or digits).
    public init(directory: String, prefix: String = "cvg") {
        self.directory = directory
        self.prefix = prefix
        records = SlotRecords(directory: directory)
    }

    private func pools() -> [String: SlotRecords.Pool] { records.pools() }
    private func slots(of pool: String? = nil) -> [SlotRecords.Slot] { records.slots(of: pool) }

    private var tableName: String { prefix == "cvg" ? "converge" : "converge_\(prefix)" }

    /// Host-wide ownership of `prefix`: checked before reading the host, taken before
    /// changing it, given back with the last pool.
    private var ownership: PrefixClaim { PrefixClaim(prefix: prefix, recordsDirectory: directory) }
    /// Checked again before every change (a small read under a host-wide lock): the claim
    /// file can change while a daemon runs.
    private func takePrefix() throws { try ownership.take() }

    /// Waits for released slots still being torn down.
    private func settle() async {
        while let (_, task) = teardowns.first { await task.value }
    }

    // MARK: - Observe

    public func observePools() async throws -> [String: ObservedPool] {
        try await observePools(trustingFor: 0)
    }

    public func observePools(trustingFor seconds: Double) async throws -> [String: ObservedPool] {
        await settle()
        if !pools().isEmpty { try ownership.check() }
        var result: [String: ObservedPool] = [:]
        for (name, pool) in pools() {
            let layout = SlotLayout(prefix: prefix, pool: name, spec: pool.spec)
            let records = slots(of: name)
            let health: Health
            if let last = inspected[name], Clock.now - last.at < seconds, last.records == records, reservations.isEmpty, teardowns.isEmpty {
                health = last.health
            } else {
                let at = Clock.now
                health = try await inspect(layout)
                inspected[name] = (at, records, health)
            }
            // Slots being built or torn down right now are neither ready nor broken; claimed
            // slots of an earlier layout keep it until released and are not broken either.
            let current = SlotLayout.key(pool.spec)
            let settled = records.filter { !busy("\(name)/\($0.index)") }
            let healthy = settled.filter { health.healthy.contains($0.index) || ($0.claimedBy != nil && $0.layout != current) }
            result[name] = ObservedPool(spec: pool.spec,
                                        ready: healthy.filter { $0.ready && $0.retired != true && $0.claimedBy == nil && $0.layout == current }.count,
                                        claimed: records.filter { $0.claimedBy != nil }.count,
                                        broken: settled.count - healthy.count + health.orphans.count)
        }
        return result
    }

    struct Health {
        var healthy: Set<Int> = []
        var orphans: [String] = []  // namespaces and links of the pool's naming with no record
    }

    /// Which recorded slots have all their parts, and which objects of the pool's naming
    /// no record explains. One thread visits every namespace of the pool.
    private func inspect(_ layout: SlotLayout) async throws -> Health {
        let records = Set(slots(of: layout.pool).map(\.index))
        let namespaces = NetworkNamespace.list(prefix: layout.namespacePrefix)
        return try await NetworkNamespace.runInRoot { () throws -> Health in
            var health = Health()
            let rootLinks = Set(try Netlink().linkNames())
            for veth in rootLinks {
                if let i = layout.index(inVeth: veth), !records.contains(i) { health.orphans.append(veth) }
            }
            var candidates: [(name: String, index: Int)] = []
            for ns in namespaces {
                guard let i = layout.index(inNamespace: ns) else { continue }
                guard records.contains(i) else { health.orphans.append(ns); continue }
                if rootLinks.contains(layout.hostVeth(i)) { candidates.append((ns, i)) }
            }
            // Visiting a namespace is a few syscalls; hundreds of them go faster side by side.
            let verdicts = Mutex([Int: Bool]())
            let visits = candidates
            DispatchQueue.concurrentPerform(iterations: visits.count) { k in
                let (ns, i) = visits[k]
                let ok = (try? NetworkNamespace.visit(ns, { () throws -> Bool in
                    let nl = try Netlink()
                    let links = try nl.linkNames()
                    guard links.contains(SlotLayout.uplink), links.contains(SlotLayout.tap) else { return false }
                    let addresses = Set(try nl.addresses().map(\.address))
                    return addresses.contains(layout.slotAddress(i)) && addresses.contains(layout.spec.guestGateway.address.value)
                })) == true
                verdicts.withLock { $0[i] = ok }
            }
            health.healthy = Set(verdicts.withLock { $0 }.filter(\.value).keys)
            return health
        }
    }

    // MARK: - Pools

    public func ensurePool(_ name: String, spec: TapPoolSpec, journal: StepJournal) async throws {
        forgetInspections()
        defer { forgetInspections() }
        await settle()
        let layout = SlotLayout(prefix: prefix, pool: name, spec: spec)
        try takePrefix()
        if let clash = pools().values.first(where: { $0.name != name && SlotLayout(prefix: prefix, pool: $0.name, spec: $0.spec).tag == layout.tag }) {
            throw StepFailure(step: "network.pool.record", message: "pools \(name) and \(clash.name) hash to the same interface tag \(layout.tag); rename one of them")
        }
        let previous = pools()[name]
        try await journal.step(.poolRecord) {
            try records.write(SlotRecords.Pool(name: name, spec: spec))
        }
        let health = try await inspect(layout)
        for orphan in health.orphans {
            // Checked again now: a slot may have been recorded since the inspection.
            let index = layout.index(inNamespace: orphan) ?? layout.index(inVeth: orphan)
            if let index, records.slot("\(name)/\(index)") != nil || busy("\(name)/\(index)") { continue }
            try await journal.step(.orphanRemove) { try await SlotBuilder.removeObject(orphan) }
        }
        let specChanged = previous.map { $0.spec.subnet != spec.subnet || $0.spec.guestGateway != spec.guestGateway || $0.spec.guestAddress != spec.guestAddress } ?? false
        let inFlight = { (slot: SlotRecords.Slot) in self.busy("\(name)/\(slot.index)") }
        let current = SlotLayout.key(spec)
        for slot in slots(of: name) where !inFlight(slot) && slot.claimedBy == nil
            && (specChanged || slot.layout != current || !health.healthy.contains(slot.index) || !slot.ready || slot.retired == true) {
            try await destroySlot(layout, slot.index, onlyIfIdle: true, journal: journal)  // stale or broken: replaced below
        }
        // Claimed slots keep the layout they were built with until released; those of the
        // current layout are completed or repaired in place.
        for slot in slots(of: name) where !inFlight(slot) && slot.claimedBy != nil && slot.layout == current
            && (!health.healthy.contains(slot.index) || !slot.ready) {
            let key = "\(name)/\(slot.index)"
            reserve(key)
            defer { unreserve(key) }
            try await journal.step(.slotRepair) { try await SlotBuilder.build(layout, slot.index) }
            if !slot.ready, var finished = records.slot(key), finished.claimedBy != nil {
                finished.ready = true
                let record = finished
                try await journal.step(.slotReady) { try records.write(record) }
            }
        }
        var idle = slots(of: name).filter { $0.claimedBy == nil && $0.retired != true && !inFlight($0) }
        while idle.count > spec.size, let extra = idle.popLast() {
            try await destroySlot(layout, extra.index, onlyIfIdle: true, journal: journal)
        }
        // Refill several slots at once: each builds on its own thread, and most of a
        // slot's time is the kernel's, not the CPU's.
        let missing = spec.size - slots(of: name).filter({ $0.claimedBy == nil && $0.retired != true }).count
        if missing > 0 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<missing {
                    if i >= Self.refillWidth { try await group.next() }
                    group.addTask { _ = try await self.createSlot(layout, journal: journal) }
                }
                try await group.waitForAll()
            }
        }
        try await journal.step(.natApply) { try await applyHostRules() }
    }

    public func removePool(_ name: String, journal: StepJournal) async throws {
        forgetInspections()
        defer { forgetInspections() }
        await settle()
        let claimed = slots(of: name).filter { $0.claimedBy != nil }
        if let user = claimed.first?.claimedBy {
            throw StepFailure(step: "network.pool.remove", message: "pool \(name) still has \(claimed.count) claimed slot(s) (sandbox \(user)); destroy those sandboxes first")
        }
        guard let record = pools()[name] else { return }
        try takePrefix()
        removing.insert(name)
        defer { removing.remove(name) }
        let layout = SlotLayout(prefix: prefix, pool: name, spec: record.spec)
        for slot in slots(of: name) { try await destroySlot(layout, slot.index, journal: journal) }
        for orphan in try await inspect(layout).orphans {
            try await journal.step(.orphanRemove) { try await SlotBuilder.removeObject(orphan) }
        }
        // The rules first, the record last: a crash in between leaves the record to find.
        try await journal.step(.natApply) { try await applyHostRules(excluding: name) }
        // The last pool gives the prefix back before its record goes: a crash in between
        // leaves the record, and the next removal takes the prefix again to finish.
        if pools().keys.allSatisfy({ $0 == name }) { try ownership.release() }
        try await journal.step(.poolRemove) { try records.forgetPool(name) }
    }

    // MARK: - Claims

    public func claim(pool: String, for sandbox: String, journal: StepJournal) async throws -> NetworkSlot {
        forgetInspections()
        defer { forgetInspections() }
        guard let record = pools()[pool] else {
            throw StepFailure(step: "network.slot.claim", message: "pool \(pool) is not applied yet")
        }
        try takePrefix()
        let layout = SlotLayout(prefix: prefix, pool: pool, spec: record.spec)
        let current = SlotLayout.key(record.spec)
        if var mine = slots(of: pool).first(where: { $0.claimedBy == sandbox }) {
            // Another task (a repair) may be building this very slot: let it finish first.
            while busy("\(pool)/\(mine.index)") { try await Task.sleep(nanoseconds: 5_000_000) }
            mine = records.slot("\(pool)/\(mine.index)") ?? mine
            if !mine.ready {
                // Claimed, but its build was interrupted: finish it before handing it out.
                let key = "\(pool)/\(mine.index)"
                reserve(key)
                defer { unreserve(key) }
                try await journal.step(.slotRepair) { try await SlotBuilder.build(layout, mine.index) }
                mine.ready = true
                let finished = mine
                try await journal.step(.slotReady) { try records.write(finished) }
            }
            return layout.slot(mine.index)
        }
        if var free = slots(of: pool).first(where: { $0.ready && $0.retired != true && $0.claimedBy == nil && $0.layout == current && !busy("\(pool)/\($0.index)") }) {
            let key = "\(pool)/\(free.index)"
            reserve(key)
            defer { unreserve(key) }
            free.claimedBy = sandbox
            try await journal.step(.slotClaim) { try records.write(free) }
            return layout.slot(free.index)
        }
        // A cold pool: make a slot now, claimed from the start.
        let made = try await createSlot(layout, claimedBy: sandbox, journal: journal)
        return layout.slot(made.index)
    }

    /// Retires the slot at once (never handed out again) and tears it down in the
    /// background: deleting a veth and a namespace waits ~20 ms on the kernel. Pool
    /// maintenance and observation wait for pending teardowns; after a crash the retired
    /// record is found and the slot destroyed then.
    public func release(sandbox: String, journal: StepJournal) async throws {
        forgetInspections()
        defer { forgetInspections() }
        guard var slot = slots().first(where: { $0.claimedBy == sandbox }), let record = pools()[slot.pool] else { return }
        try takePrefix()
        slot.claimedBy = nil
        slot.ready = false
        slot.retired = true
        let retired = slot
        try await journal.step(.slotRelease) { try records.write(retired) }
        let layout = SlotLayout(prefix: prefix, pool: slot.pool, spec: record.spec)
        let key = "\(slot.pool)/\(slot.index)"
        teardowns[key] = Task { await self.tearDown(layout, retired.index) }
    }

    private func tearDown(_ layout: SlotLayout, _ index: Int) async {
        // Failures leave the retired record; the next ensurePool destroys the slot again.
        try? await destroySlot(layout, index, journal: NoJournal())
        teardowns["\(layout.pool)/\(index)"] = nil
        forgetInspections()
    }

    // MARK: - Slots

    /// The root namespace's rules for every pool that stays.
    private func applyHostRules(excluding removed: String? = nil) async throws {
        let staying = pools().values.filter { $0.name != removed && !removing.contains($0.name) }
        try await HostRules.apply(prefix: prefix, table: tableName, pools: Array(staying), directory: directory)
    }

    private func createSlot(_ layout: SlotLayout, claimedBy: String? = nil, journal: StepJournal) async throws -> SlotRecords.Slot {
        let used = Set(slots(of: layout.pool).map(\.index))
        guard let index = (0..<layout.capacity).first(where: { !used.contains($0) && !busy("\(layout.pool)/\($0)") }) else {
            throw StepFailure(step: "network.slot.create", message: "pool \(layout.pool)'s subnet \(layout.spec.subnet) has no free /30 left (\(layout.capacity) slots)")
        }
        let key = "\(layout.pool)/\(index)"
        reserve(key)
        defer { unreserve(key) }
        // The record comes first, so a crash during creation leaves something to find.
        var record = SlotRecords.Slot(pool: layout.pool, index: index, claimedBy: claimedBy, ready: false, layout: SlotLayout.key(layout.spec))
        try await journal.step(.slotRecord) { try records.write(record) }
        try await journal.step(.slotCreate) { try await SlotBuilder.build(layout, index) }
        record.ready = true
        try await journal.step(.slotReady) { try records.write(record) }
        return record
    }

    /// - Parameter onlyIfIdle: skip the slot if, by now, it was claimed or is busy (pool
    ///   maintenance decides from a list read before its first suspension point).
    private func destroySlot(_ layout: SlotLayout, _ index: Int, onlyIfIdle: Bool = false, journal: StepJournal) async throws {
        // Reserved until the record is gone, so no creation reuses the index meanwhile.
        let key = "\(layout.pool)/\(index)"
        if onlyIfIdle {
            guard let current = records.slot(key), current.claimedBy == nil, !busy(key) else { return }
        }
        reserve(key)
        defer { unreserve(key) }
        try await journal.step(.slotDestroy) {
            try await SlotBuilder.remove(layout, index)
        }
        // The record goes last.
        try await journal.step(.slotForget) { try records.forget(layout.pool, index) }
    }

}
