import Reconciler

/// The journal steps only QEMU sandboxes take, beside the shared ones.
extension JournalStep {
    public static let qemuSpawn = JournalStep("qemu.spawn")
    public static let qemuVMStart = JournalStep("qemu.vm.start")
    public static let qemuVMPause = JournalStep("qemu.vm.pause")
    public static let qemuVMResume = JournalStep("qemu.vm.resume")
    public static let qemuMemoryPlug = JournalStep("qemu.memory.plug")
    public static let qemuVMBalloon = JournalStep("qemu.vm.balloon")
    public static let qemuStateSave = JournalStep("qemu.state.save")
    public static let qemuStateLoad = JournalStep("qemu.state.load")
    public static let qemuVerify = JournalStep("qemu.verify")
    public static let qemuVMMStop = JournalStep("qemu.vmm.stop")
}

extension QEMU {
    /// Every step this runtime journals of its own.
    public static let journalSteps: [JournalStep] = [
        .qemuSpawn, .qemuVMStart, .qemuVMPause, .qemuVMResume, .qemuMemoryPlug, .qemuVMBalloon, .qemuStateSave, .qemuStateLoad, .qemuVerify, .qemuVMMStop,
    ]
}
