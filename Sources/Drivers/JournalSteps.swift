import Reconciler

/// Every journal step this build can take: the shared ones and each runtime's own. The
/// crash-safety test crashes at each, before and after.
public enum JournalSteps {
    public static let all: [JournalStep] = JournalStep.shared + JournalStep.memoryState + CloudHypervisor.journalSteps + QEMU.journalSteps
        + Cuttlefish.journalSteps
}
