import Reconciler

/// The journal steps only Cloud Hypervisor sandboxes take, beside the shared ones.
extension JournalStep {
    public static let chSpawn = JournalStep("ch.spawn")
    public static let chVMCreate = JournalStep("ch.vm.create")
    public static let chVMBoot = JournalStep("ch.vm.boot")
    public static let chVMPause = JournalStep("ch.vm.pause")
    public static let chVMResume = JournalStep("ch.vm.resume")
    public static let chVMResize = JournalStep("ch.vm.resize")
    public static let chVMBalloon = JournalStep("ch.vm.balloon")
    public static let chVMSnapshot = JournalStep("ch.vm.snapshot")
    public static let chVMRestore = JournalStep("ch.vm.restore")
    public static let chVerify = JournalStep("ch.verify")
    public static let chVMMStop = JournalStep("ch.vmm.stop")
}

extension CloudHypervisor {
    /// Every step this runtime journals of its own.
    public static let journalSteps: [JournalStep] = [
        .chSpawn, .chVMCreate, .chVMBoot, .chVMPause, .chVMResume, .chVMResize, .chVMBalloon, .chVMSnapshot, .chVMRestore, .chVerify, .chVMMStop,
    ]
}
