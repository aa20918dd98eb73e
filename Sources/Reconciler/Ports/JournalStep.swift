/// A step an action may journal, by its stable dotted name: stored in the journal and named
/// by `CONVERGE_CRASH_AT`. The steps every runtime shares (records, disks, network slots)
/// are declared here; each runtime adapter declares its own beside it (`ch.*`, `qemu.*`).
/// The crash-safety test enumerates all of them, so a step added without a scenario that
/// reaches it fails that test.
public struct JournalStep: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    // Sandbox records (the metadata file beside every sandbox).
    public static let sandboxRecord = JournalStep("sandbox.record")
    public static let sandboxRecordSlot = JournalStep("sandbox.record.slot")
    public static let sandboxRecordPID = JournalStep("sandbox.record.pid")
    public static let sandboxRecordUpdate = JournalStep("sandbox.record.update")
    public static let sandboxRecordRemove = JournalStep("sandbox.record.remove")
    // Disks.
    public static let diskOverlayCreate = JournalStep("disk.overlay.create")
    public static let diskInspect = JournalStep("disk.inspect")
    public static let diskGrow = JournalStep("disk.grow")
    public static let diskRemove = JournalStep("disk.remove")
    // Network pools and slots.
    public static let poolRecord = JournalStep("network.pool.record")
    public static let poolRemove = JournalStep("network.pool.remove")
    public static let orphanRemove = JournalStep("network.orphan.remove")
    public static let slotRecord = JournalStep("network.slot.record")
    public static let slotCreate = JournalStep("network.slot.create")
    public static let slotReady = JournalStep("network.slot.ready")
    public static let slotRepair = JournalStep("network.slot.repair")
    public static let slotClaim = JournalStep("network.slot.claim")
    public static let slotRelease = JournalStep("network.slot.release")
    public static let slotDestroy = JournalStep("network.slot.destroy")
    public static let slotForget = JournalStep("network.slot.forget")
    public static let natApply = JournalStep("network.nat.apply")
    // Recorded resources.
    public static let policyRecord = JournalStep("policy.record")

    /// The steps shared by every runtime; a runtime's own come from its adapter.
    public static let shared: [JournalStep] = [
        sandboxRecord, sandboxRecordSlot, sandboxRecordPID, sandboxRecordUpdate, sandboxRecordRemove,
        diskOverlayCreate, diskInspect, diskGrow, diskRemove,
        poolRecord, poolRemove, orphanRemove, slotRecord, slotCreate, slotReady, slotRepair, slotClaim, slotRelease,
        slotDestroy, slotForget, natApply,
        policyRecord,
    ]
}
