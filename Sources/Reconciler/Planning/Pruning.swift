import Resources

/// Destroys of what no spec names, and the prune guard that caps them (CONTRACT §4).
enum Pruning {
    /// - Parameter hold: why nothing may be destroyed this pass (a spec file that does not
    ///   load may declare what looks unnamed); each destroy becomes a `PruneHeld` finding.
    static func destroys(desired: [ResourceID: Resource], observed: ObservedState, hold: String? = nil) -> ([Action], [Finding]) {
        let (actions, findings) = unguardedDestroys(desired: desired, observed: observed)
        guard let hold else { return (actions, findings) }
        let held = actions.map { Finding($0.id, .blocked, reason: "PruneHeld", message: "kept although no valid spec names it: \(hold)") }
        return ([], findings + held)
    }

    private static func unguardedDestroys(desired: [ResourceID: Resource], observed: ObservedState) -> ([Action], [Finding]) {
        var actions: [Action] = []
        var findings: [Finding] = []
        var doomedSandboxes: [String] = []
        // Only what no spec names is sorted: a converged host has thousands of sandboxes and no destroy.
        for name in observed.sandboxes.keys.filter({ desired[ResourceID(.sandbox, $0)] == nil }).sorted() {
            doomedSandboxes.append(name)
            actions.append(Action(ResourceID(.sandbox, name), .destroy, reason: "no spec names it"))
        }
        for name in observed.snapshots.keys.sorted() where desired[ResourceID(.snapshot, name)] == nil {
            let id = ResourceID(.snapshot, name)
            // Whatever is built on its disk holds it: deleting a parent never breaks a child.
            let users = observed.users(ofSnapshot: name)
            let doomed = Set(doomedSandboxes.map { ResourceID(.sandbox, $0) })
                .union(observed.snapshots.keys.filter { desired[ResourceID(.snapshot, $0)] == nil }.map { ResourceID(.snapshot, $0) })
            let holders = users.filter { !doomed.contains($0) }
            if !holders.isEmpty {
                findings.append(Finding(id, .blocked, reason: "SnapshotInUse",
                                        message: "kept although no spec names it: \(holders.map(\.description).joined(separator: ", ")) \(holders.count == 1 ? "is" : "are") built on its disk; it goes once \(holders.count == 1 ? "that goes" : "they go")"))
                continue
            }
            actions.append(Action(id, .destroy, reason: "no spec names it", dependsOn: users))
        }
        // A pull no spec wants any more leaves only its unfinished folder.
        for name in observed.pulls.keys.sorted() where desired[ResourceID(.snapshot, name)] == nil && observed.snapshots[name] == nil {
            actions.append(Action(ResourceID(.snapshot, name), .destroy, reason: "no spec names it (an unfinished pull)"))
        }
        for name in observed.pools.keys.sorted() where desired[ResourceID(.tapPool, name)] == nil {
            // After every action of a sandbox that holds one of its slots (destroy, replace
            // into another pool, update): those release it.
            let users = observed.sandboxes.values.filter { $0.config.networkPool == name }.map { ResourceID(.sandbox, $0.name) }.sorted()
            actions.append(Action(ResourceID(.tapPool, name), .destroy, reason: "no spec names it", dependsOn: users))
        }
        for name in observed.policies.keys.sorted() where desired[ResourceID(.balloonPolicy, name)] == nil {
            let users = doomedSandboxes.filter { observed.sandboxes[$0]?.config.balloonPolicy == name }.map { ResourceID(.sandbox, $0) }
            actions.append(Action(ResourceID(.balloonPolicy, name), .destroy, reason: "no spec names it", dependsOn: users))
        }
        return (actions, findings)
    }

    /// CONTRACT §4: 10, or 25% of the sandboxes when that is more.
    static func defaultLimit(sandboxCount: Int) -> Int { max(10, (sandboxCount + 3) / 4) }

    /// Keeps at most the allowed number of destructive actions (in plan order) and holds
    /// back the rest, with every action that depends on a held-back one.
    static func guardDestroys(_ actions: [Action], sandboxCount: Int, options: PlanOptions) -> (kept: [Action], heldBack: [Action]) {
        guard !options.force else { return (actions, []) }
        let limit = options.maxDestroy ?? defaultLimit(sandboxCount: sandboxCount)
        // Nothing is held back while the destructive actions fit: the plan is kept whole.
        if actions.lazy.filter(\.isDestructive).count <= limit { return (actions, []) }
        var destructive = 0
        var kept: [Action] = []
        var heldBack: [Action] = []
        var heldIDs: Set<ResourceID> = []
        for action in actions {
            let blocked = action.dependsOn.contains(where: heldIDs.contains)
            if blocked || (action.isDestructive && destructive >= limit) {
                heldBack.append(action)
                heldIDs.insert(action.id)
                continue
            }
            if action.isDestructive { destructive += 1 }
            kept.append(action)
        }
        return (kept, heldBack)
    }
}
