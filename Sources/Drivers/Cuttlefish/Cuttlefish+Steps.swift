import Reconciler

/// The journal steps only Cuttlefish sandboxes take, beside the shared ones.
extension JournalStep {
    public static let cuttlefishCreate = JournalStep("cuttlefish.create")
    public static let cuttlefishStart = JournalStep("cuttlefish.start")
    public static let cuttlefishBootWait = JournalStep("cuttlefish.boot.wait")
    public static let cuttlefishSuspend = JournalStep("cuttlefish.suspend")
    public static let cuttlefishResume = JournalStep("cuttlefish.resume")
    public static let cuttlefishStop = JournalStep("cuttlefish.stop")
    public static let cuttlefishRemove = JournalStep("cuttlefish.remove")
    public static let cuttlefishClean = JournalStep("cuttlefish.instance.clean")
    public static let cuttlefishSnapshotTake = JournalStep("cuttlefish.snapshot.take")
    public static let cuttlefishDiskCopy = JournalStep("cuttlefish.disk.copy")
    public static let cuttlefishDiskRestore = JournalStep("cuttlefish.disk.restore")
    public static let cuttlefishVerify = JournalStep("cuttlefish.verify")
}

extension Cuttlefish {
    /// Every step this runtime journals of its own.
    public static let journalSteps: [JournalStep] = [
        .cuttlefishCreate, .cuttlefishStart, .cuttlefishBootWait, .cuttlefishSuspend, .cuttlefishResume, .cuttlefishStop,
        .cuttlefishRemove, .cuttlefishClean, .cuttlefishSnapshotTake, .cuttlefishDiskCopy, .cuttlefishDiskRestore, .cuttlefishVerify,
    ]
}
