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
        // N and the phase are both optional, so `STEP:after` names the phase, not N.
        let parts = spec.split(separator: ":").map(String.init)
        var occurrence = 1
        var phase = Phase.before
        for part in parts.dropFirst() {
            if let n = Int(part), n > 0 {
                occurrence = n
            } else if let p = Phase(rawValue: part) {
                phase = p
            } else {
                FileHandle.standardError.write(Data("converge: CONVERGE_CRASH_AT=\(spec): '\(part)' is neither a count nor before/after; ignored\n".utf8))
            }
        }
        target = (parts.first ?? "", occurrence, phase)
    }

    /// The step, occurrence and phase this hook fires at (for tests).
    var describedTarget: String? { target.map { "\($0.step):\($0.occurrence):\($0.phase.rawValue)" } }

    public func check(step: String, phase: Phase) {
        guard let target, target.step == step, target.phase == phase else { return }
        let count = seen.withLock { n in n += 1; return n }
        if count == target.occurrence { kill(getpid(), SIGKILL) }
    }
}
