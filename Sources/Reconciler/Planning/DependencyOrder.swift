import Resources

/// Orders desired resources so that each comes after what it needs; ties break by kind
/// and name, so the order is deterministic.
enum DependencyOrder {
    static func sorted(_ desired: [ResourceID: Resource]) -> [Resource] {
        let ids = desired.keys.sorted()
        // Pools and policies sort first and need nothing, so they are placed before anything
        // that needs them: only sandboxes and snapshots are looked up, by their position.
        var position: [ResourceID: Int]?
        var state = [VisitState](repeating: .new, count: ids.count)
        var result: [Resource] = []
        result.reserveCapacity(ids.count)
        func visit(_ i: Int) {
            guard state[i] == .new, let resource = desired[ids[i]] else { return }
            state[i] = .visiting
            for dep in needs(resource) where dep.kind == .sandbox || dep.kind == .snapshot {
                if position == nil { position = Dictionary(uniqueKeysWithValues: zip(ids, ids.indices)) }
                if let j = position?[dep] { visit(j) }
            }
            state[i] = .done
            result.append(resource)
        }
        for i in ids.indices { visit(i) }
        return result
    }

    private enum VisitState { case new, visiting, done }

    /// What a sandbox needs before it can be built: its pool, its policy, and the snapshot
    /// or sandbox it starts from.
    static func sandboxNeeds(pool: String?, policy: String?, source: SandboxSource) -> [ResourceID] {
        var ids: [ResourceID] = []
        if let pool { ids.append(ResourceID(.tapPool, pool)) }
        if let policy { ids.append(ResourceID(.balloonPolicy, policy)) }
        switch source {
        case .snapshot(let n): ids.append(ResourceID(.snapshot, n))
        case .fork(let n): ids.append(ResourceID(.sandbox, n))
        case .image: break
        }
        return ids
    }

    static func needs(_ resource: Resource) -> [ResourceID] {
        switch resource.body {
        case .sandbox(let s):
            return sandboxNeeds(pool: s.networkPool, policy: s.balloonPolicy, source: s.source)
        case .snapshot(let s):
            if case .sandbox(let n) = s.source { return [ResourceID(.sandbox, n)] }
            return []
        case .tapPool, .balloonPolicy:
            return []
        }
    }
}
