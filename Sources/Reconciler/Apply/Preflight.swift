import Resources

extension Reconciler {
    /// Measures before acting: a replacement or create whose image, snapshot, kernel or
    /// VMM is missing becomes a refusal at plan time, so a replacement never destroys a
    /// running sandbox and then fails to build the new one. What depends on a refused
    /// action waits with it.
    func preflighted(_ plan: Plan, observed: ObservedState) async -> Plan {
        var plan = plan
        var refused: Set<ResourceID> = []
        for action in plan.actions where action.verb == .replace || action.verb == .create {
            guard let config = action.config else { continue }
            var problems: [String]
            if let runtime = runtimes[config.runtime] {
                problems = await runtime.preflight(action.id.name, config: config)
            } else {
                problems = ["runtime \(config.runtime.rawValue) has no driver in this version of Converge (available: \(runtimes.keys.map(\.rawValue).sorted().joined(separator: ", ")))"]
            }
            if case .snapshot(let name) = config.source, observed.snapshots[name] == nil,
               !plan.actions.contains(where: { $0.id == ResourceID(.snapshot, name) }) {
                problems.append("snapshot \(name) does not exist on this host and no Snapshot spec makes it")
            }
            if case .fork(let parent) = config.source, action.verb == .create || !action.keepsDisk {
                problems += forkProblems(parent: parent, runtime: config.runtime, plan: plan, observed: observed)
            }
            guard !problems.isEmpty else { continue }
            refused.insert(action.id)
            let replacing = action.verb == .replace
            plan.findings.append(Finding(action.id, .blocked, reason: replacing ? "ReplacementBlocked" : "CreateBlocked",
                                         message: (replacing ? "not replaced, the current sandbox is left as it is: " : "not created: ")
                                             + problems.joined(separator: "; ")))
        }
        guard !refused.isEmpty else { return plan }
        var waiting = true
        while waiting {
            waiting = false
            for action in plan.actions where !refused.contains(action.id) {
                guard let blocker = action.dependsOn.first(where: refused.contains) else { continue }
                refused.insert(action.id)
                waiting = true
                plan.findings.append(Finding(action.id, .blocked, reason: "DependencyBlocked",
                                             message: "waits for \(blocker), which cannot be built (see its finding)"))
            }
        }
        plan.actions.removeAll { refused.contains($0.id) }
        return plan
    }

    /// A fork is taken from a parent on the host (or made in this plan) of its own runtime:
    /// memory state is the VMM's own.
    private func forkProblems(parent: String, runtime: Runtime, plan: Plan, observed: ObservedState) -> [String] {
        if let found = observed.sandboxes[parent] {
            return found.config.runtime == runtime ? []
                : ["fork source \(parent) runs on \(found.config.runtime.rawValue), and a fork runs on its parent's runtime (set spec.runtime: \(found.config.runtime.rawValue))"]
        }
        if plan.actions.contains(where: { $0.id == ResourceID(.sandbox, parent) && $0.verb == .create }) { return [] }
        return ["fork source \(parent) is neither on this host nor in the specs, so there is nothing to fork"]
    }
}
