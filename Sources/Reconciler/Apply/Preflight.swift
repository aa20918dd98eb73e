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
}
