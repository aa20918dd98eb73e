/// Every step an action may journal. The raw values are stable: they are stored in the
/// journal and named by `CONVERGE_CRASH_AT`. The crash-safety test enumerates all cases,
/// so a step added here without a scenario that reaches it fails that test.
public enum JournalStep: String, Sendable, CaseIterable {
    // Sandbox records (the metadata file beside every sandbox).
    case sandboxRecord = "sandbox.record"
    case sandboxRecordSlot = "sandbox.record.slot"
    case sandboxRecordPID = "sandbox.record.pid"
    case sandboxRecordUpdate = "sandbox.record.update"
    case sandboxRecordRemove = "sandbox.record.remove"
    // Disks.
    case diskOverlayCreate = "disk.overlay.create"
    case diskInspect = "disk.inspect"
    case diskGrow = "disk.grow"
    case diskRemove = "disk.remove"
    // Cloud Hypervisor.
    case chSpawn = "ch.spawn"
    case chVMCreate = "ch.vm.create"
    case chVMBoot = "ch.vm.boot"
    case chVMPause = "ch.vm.pause"
    case chVMResume = "ch.vm.resume"
    case chVMResize = "ch.vm.resize"
    case chVMBalloon = "ch.vm.balloon"
    case chVerify = "ch.verify"
    case chVMMStop = "ch.vmm.stop"
    // Network pools and slots.
    case poolRecord = "network.pool.record"
    case poolRemove = "network.pool.remove"
    case orphanRemove = "network.orphan.remove"
    case slotRecord = "network.slot.record"
    case slotCreate = "network.slot.create"
    case slotReady = "network.slot.ready"
    case slotRepair = "network.slot.repair"
    case slotClaim = "network.slot.claim"
    case slotRelease = "network.slot.release"
    case slotDestroy = "network.slot.destroy"
    case slotForget = "network.slot.forget"
    case natApply = "network.nat.apply"
    // Recorded resources.
    case policyRecord = "policy.record"
}
