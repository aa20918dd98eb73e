import Resources

/// Orders desired resources so that each comes after what it needs; ties break by kind
/// and name, so the order is deterministic.
enum DependencyOrder {
    static func sorted(_ desired: [ResourceID: Resource]) -> [Resource] {
        var result: [Resource] = []
        result.reserveCapacity(desired.count)
        var state: [ResourceID: Bool] = [:]  // false = visiting, true = done
        func visit(_ id: ResourceID) {
            guard state[id] == nil, let resource = desired[id] else { return }
            state[id] = false
            for dep in needs(resource) { visit(dep) }
            state[id] = true
            result.append(resource)
        }
        for id in desired.keys.sorted() { visit(id) }
        return result
    }

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
