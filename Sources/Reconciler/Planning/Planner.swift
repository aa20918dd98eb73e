import Resources

/// Options that change what a plan may do, not what it wants.
public struct PlanOptions: Sendable, Equatable {
    /// Most destructive actions in one pass; nil = max(10, 25% of sandboxes) (CONTRACT §4).
    public var maxDestroy: Int?
    /// Lifts the prune guard.
    public var force: Bool
    /// Why no destroy may run this pass, whatever `force` says: some spec file does not
    /// load, so what it declares is unknown (a failed build prunes nothing, as in Flux).
    public var pruneHold: String?

    public init(maxDestroy: Int? = nil, force: Bool = false, pruneHold: String? = nil) {
        self.maxDestroy = maxDestroy
        self.force = force
        self.pruneHold = pruneHold
    }
}

/// Diffs desired against observed. Pure and deterministic: the same inputs give the same
/// plan, ordered so that a resource comes after what it needs (pool and policy before a
/// sandbox, fork source before fork, snapshot before restore) and destroys come last.
public enum Planner {
    /// - Parameter capabilities: what each runtime can change live (`.all` for one not named).
    public static func plan(desired: [ResourceID: Resource], observed: ObservedState, defaults: HostDefaults,
                            options: PlanOptions = PlanOptions(), capabilities: [Runtime: RuntimeCapabilities] = [:]) -> Plan {
        var actions: [Action] = []
        var findings: [Finding] = []
        var instances = InstanceCount(observed: observed, capabilities: capabilities)
        for resource in DependencyOrder.sorted(desired) {
            switch resource.body {
            case .tapPool(let spec):
                actions += poolActions(resource, spec, observed.pools[resource.name])
            case .balloonPolicy:
                actions += recorded(resource, observed.policies[resource.name])
            case .sandbox(let spec):
                let current = observed.sandboxes[resource.name]
                let config = Self.resolve(spec, defaults: defaults, current: current, observed: observed)
                let can = capabilities[spec.runtime] ?? .all
                var result = SandboxDiff.actions(name: resource.name, spec: spec, config: config,
                                                 observed: current, observedAll: observed, capabilities: can)
                instances.admit(&result.actions, &result.findings, runtime: spec.runtime, current: current)
                actions += result.actions
                findings += result.findings
                // The balloon is sized once the sandbox is otherwise where its spec says.
                if result.actions.isEmpty, let current, can.balloon || spec.balloonPolicy == nil,
                   let balloon = BalloonDiff.action(id: resource.id, policyName: spec.balloonPolicy,
                                                    policy: spec.balloonPolicy.flatMap { desired[ResourceID(.balloonPolicy, $0)]?.balloonPolicy },
                                                    observed: current) {
                    actions.append(balloon)
                }
            case .snapshot(let spec):
                let result = snapshotActions(resource, spec, observed, desired)
                actions += result.actions
                findings += result.findings
            }
        }
        serializeCaptures(&actions)
        let (destroys, destroyFindings) = Pruning.destroys(desired: desired, observed: observed, hold: options.pruneHold)
        findings += destroyFindings
        actions += destroys
        let guarded = Pruning.guardDestroys(actions, sandboxCount: observed.sandboxes.count, options: options)
        return Plan(actions: guarded.kept, heldBack: guarded.heldBack, findings: findings, pruneHold: options.pruneHold)
    }

    /// Snapshots and forks of one sandbox each pause, save and relaunch it: they run one
    /// after another, each waiting for the one before it in the plan.
    static func serializeCaptures(_ actions: inout [Action]) {
        var last: [String: ResourceID] = [:]
        for i in actions.indices where actions[i].verb == .create || actions[i].verb == .replace {
            let source: String?
            switch (actions[i].body, actions[i].config?.source) {
            case (.snapshot(let spec)?, _): if case .sandbox(let s) = spec.source { source = s } else { source = nil }
            case (_, .fork(let parent)?): source = parent
            default: source = nil
            }
            guard let source else { continue }
            if let previous = last[source], !actions[i].dependsOn.contains(previous) { actions[i].dependsOn.append(previous) }
            last[source] = actions[i].id
        }
    }

    /// The config a sandbox spec asks for. A clone's memory is restored at the shape it was
    /// saved at, so a spec that leaves cpus, memory and limits out takes that shape (the
    /// sandbox's own once it exists: its parent may be gone) instead of the host defaults.
    static func resolve(_ spec: SandboxSpec, defaults: HostDefaults, current: ObservedSandbox?, observed: ObservedState) -> SandboxConfig {
        let config = SandboxConfig(resolving: spec, defaults: defaults)
        guard spec.cpus == nil, spec.memory == nil, spec.limits == nil else { return config }
        let shape: SandboxConfig?
        switch spec.source {
        case .image: return config
        case .snapshot(let name):
            let snapshot = observed.snapshots[name]
            shape = current?.config.source == spec.source ? current?.config : (snapshot?.hasMemory == true ? snapshot?.config : nil)
        case .fork(let parent):
            shape = current?.config.source == spec.source ? current?.config : observed.sandboxes[parent]?.config
        }
        return shape.map { config.shaped(like: $0) } ?? config
    }

    /// Pools and policies: create when not applied, update when the spec changed.
    private static func recorded(_ resource: Resource, _ applied: AppliedRecord?) -> [Action] {
        guard let applied else {
            return [Action(resource.id, .create, reason: "not yet applied", body: resource.body)]
        }
        guard applied.body != resource.body else { return [] }
        return [Action(resource.id, .update, reason: "spec changed",
                       changes: FieldDiff.changes(from: applied.body, to: resource.body), body: resource.body)]
    }

    /// Pools: create, update on a spec change, refill or repair when slots are missing.
    private static func poolActions(_ resource: Resource, _ spec: TapPoolSpec, _ observed: ObservedPool?) -> [Action] {
        guard let observed else {
            return [Action(resource.id, .create, reason: "not yet applied (\(spec.size) slots)", body: resource.body)]
        }
        if observed.spec != spec {
            return [Action(resource.id, .update, reason: "spec changed",
                           changes: FieldDiff.changes(from: .tapPool(observed.spec), to: resource.body), body: resource.body)]
        }
        if observed.broken > 0 {
            return [Action(resource.id, .update, reason: "repair: \(observed.broken) slot(s) or orphan(s) to fix", body: resource.body)]
        }
        if observed.ready != spec.size {
            let verb = observed.ready < spec.size ? "refill" : "shrink"
            return [Action(resource.id, .update, reason: "\(verb): \(observed.ready) of \(spec.size) slots ready",
                           changes: [Change("ready", from: "\(observed.ready)", to: "\(spec.size)")], body: resource.body)]
        }
        return []
    }

    /// A Snapshot is taken once: created when absent, replaced when its spec changed,
    /// unless something is built on its disk (then it is kept, and the plan says by whom).
    private static func snapshotActions(_ resource: Resource, _ spec: SnapshotSpec, _ observedAll: ObservedState,
                                        _ desired: [ResourceID: Resource]) -> (actions: [Action], findings: [Finding]) {
        var needs: [ResourceID] = []
        if case .sandbox(let source) = spec.source {
            needs = [ResourceID(.sandbox, source)]
            if observedAll.snapshots[resource.name] == nil && observedAll.sandboxes[source] == nil && desired[needs[0]] == nil {
                return ([], [Finding(resource.id, .blocked, reason: "SourceMissing",
                                     message: "its source sandbox \(source) is neither on the host nor in the specs, so it cannot be captured")])
            }
        }
        guard let observed = observedAll.snapshots[resource.name] else {
            let reason = if case .registry(let location) = spec.source { "not found on the host; pulled from the registry (\(location))" } else { "not found on the host" }
            return ([Action(resource.id, .create, reason: reason, dependsOn: needs, body: resource.body)], [])
        }
        guard observed.spec.identity != spec.identity else {
            return (RegistryDiff.actions(resource, spec, observed), [])
        }
        let users = observedAll.users(ofSnapshot: resource.name)
        if !users.isEmpty {
            return ([], [Finding(resource.id, .blocked, reason: "SnapshotInUse",
                                 message: "its spec changed, but a Snapshot is immutable and \(users.map(\.description).joined(separator: ", ")) \(users.count == 1 ? "is" : "are") built on its disk; it is kept as it is until \(users.count == 1 ? "that goes" : "they go") (or restore its spec)")])
        }
        return ([Action(resource.id, .replace, reason: "a Snapshot is immutable once taken; its spec changed (forces replacement)",
                        changes: FieldDiff.changes(from: .snapshot(observed.spec), to: resource.body), dependsOn: needs, body: resource.body)], [])
    }
}
