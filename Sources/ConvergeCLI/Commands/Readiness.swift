import Foundation
import Reconciler
import Resources

/// Readiness as `get` and `status` show it: the stored Ready condition is what the last
/// pass concluded, so it is checked against what is observed *now*. A resource the
/// planner would act on (a VMM killed since the last pass, say) is not ready, whatever
/// the last pass said: READY/REASON never contradict the OBSERVED column.
enum Readiness {
    /// What is pending for each resource: planner findings and actions (balloon resizes
    /// are the balloon loop's steady work, not drift, and do not count).
    static func pending(specs: [ResourceID: StoredSpec], observed: ObservedState, defaults: HostDefaults,
                        capabilities: [Runtime: RuntimeCapabilities]) -> [ResourceID: (reason: String, message: String)] {
        let plan = Planner.plan(desired: specs.mapValues(\.resource), observed: observed, defaults: defaults, options: PlanOptions(force: true),
                                capabilities: capabilities)
        var result: [ResourceID: (reason: String, message: String)] = [:]
        let actions = (plan.actions + plan.heldBack).filter { $0.verb != .balloon }
        for id in Set(actions.map(\.id)).union(plan.findings.map(\.id)) {
            let finding = plan.findings.first { $0.id == id }
            let steps = actions.filter { $0.id == id }.map { "\($0.verb.rawValue) (\($0.reason))" }
            var message = finding?.message ?? ""
            if !steps.isEmpty { message += (message.isEmpty ? "" : "; ") + "the next apply will \(steps.joined(separator: ", "))" }
            result[id] = (finding?.reason ?? "Drifted", message)
        }
        return result
    }

    /// Turns a stale Ready=True into False with `pending`'s reason, in the row and in its conditions.
    static func correct(_ row: inout StatusRow, pending: (reason: String, message: String)?) {
        guard let pending, row.ready == "True" else { return }
        var message = pending.message
        if let desired = row.desiredState, let observed = row.observedState, desired != observed {
            message = "observed \(observed), desired \(desired)" + (message.isEmpty ? "" : ": \(message)")
        }
        row.ready = "False"
        row.reason = pending.reason
        let now = Date().timeIntervalSince1970
        if let i = row.conditions.firstIndex(where: { $0.type == "Ready" }) {
            row.conditions[i].status = "False"
            row.conditions[i].reason = pending.reason
            row.conditions[i].message = message
            row.conditions[i].lastTransitionTime = now
        }
    }
}
