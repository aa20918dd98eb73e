import Foundation
import Synchronization

/// Fault injection for crash-safety tests: `CONVERGE_CRASH_AT=STEP[:N][:before|after]`
/// makes the process die by SIGKILL right before (default) or after the N-th (default
/// first) run of journal step STEP. Unset, it costs one comparison per step.
public final class CrashHook: Sendable {
    public enum Phase: String, Sendable { case before, after }

    public static let shared = CrashHook(spec: ProcessInfo.processInfo.environment["CONVERGE_CRASH_AT"])

    private let target: (step: String, occurrence: Int, phase: Phase)?
    private let seen = Mutex(0)

    init(spec: String?) {
        guard let spec, !spec.isEmpty else { target = nil; return }
        let parts = spec.split(separator: ":").map(String.init)
        let occurrence = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
        let phase = parts.count > 2 ? Phase(rawValue: parts[2]) ?? .before : .before
        target = (parts[0], occurrence, phase)
    }

    func check(step: String, phase: Phase) {
        guard let target, target.step == step, target.phase == phase else { return }
        let count = seen.withLock { n in n += 1; return n }
        if count == target.occurrence { kill(getpid(), SIGKILL) }
    }
}
