import Foundation
import Resources

/// Options of one `plan` or `apply`.
public struct ApplyOptions: Sendable {
    public var plan: PlanOptions
    /// Proceed although the spec directory holds nothing while resources exist.
    public var allowEmpty: Bool
    /// Observe → plan → apply rounds before giving up.
    public var maxIterations: Int
    /// Independent actions run at the same time, at most this many.
    public var concurrency: Int
    /// A round of balloon resizes only (the balloon loop's pass) runs this many at once: two
    /// short API calls each, one VMM each, and a thousand of them every interval.
    public var balloonConcurrency = 128

    /// How many of `actions` (one round) run at once.
    func concurrency(for actions: [Action]) -> Int {
        actions.allSatisfy { $0.verb == .balloon } ? max(concurrency, balloonConcurrency) : concurrency
    }

    /// Seconds an observation of a VMM is trusted without asking it again, while its record,
    /// process and socket are unchanged (0: ask every VMM every pass).
    public var resync: Double = 0
    /// Resources whose actions wait this pass (backoff); they are reported, not run.
    public var deferred: Set<ResourceID> = []
    /// Asked before every action is launched and every round: true stops launching new
    /// actions; those in flight finish and the pass returns (graceful shutdown).
    public var shouldStop: (@Sendable () -> Bool)?

    public init(plan: PlanOptions = PlanOptions(), allowEmpty: Bool = false, maxIterations: Int = 5, concurrency: Int = 8) {
        self.plan = plan
        self.allowEmpty = allowEmpty
        self.maxIterations = maxIterations
        self.concurrency = concurrency
    }
}

/// The level-triggered loop: observe the host, plan against the specs, run the plan's
/// actions (journaled, independent ones concurrently), and repeat until nothing is left.
public actor Reconciler {
    let store: Store
    let runtimes: [Runtime: any SandboxRuntime]
    let network: any HostNetwork
    let snapshots: any SnapshotDriver
    let defaults: HostDefaults
    /// What each runtime can change live, as its adapter declares it.
    public nonisolated var capabilities: [Runtime: RuntimeCapabilities] { runtimes.mapValues(\.capabilities) }
    /// One pass at a time: actor methods re-enter at every `await`.
    private var passInFlight = false
    /// The observations this actor last recorded: a process holds the state directory's
    /// lock while it applies, so the next pass need not read and decode them again.
    private var lastRecorded: [String: ObservedSandbox]?
    /// When this actor last removed leftovers, if every pass since ended without a failed action.
    private var leftoversClearedAt: Double?
    /// The specs of the last pass with their content hashes: a spec equal to its last
    /// version (most, pass after pass) is not hashed again.
    var hashed: [ResourceID: (resource: Resource, hash: String)] = [:]

    public init(store: Store, runtimes: [any SandboxRuntime], network: any HostNetwork, snapshots: any SnapshotDriver, defaults: HostDefaults) {
        self.store = store
        self.runtimes = Dictionary(runtimes.map { ($0.runtime, $0) }, uniquingKeysWith: { a, _ in a })
        self.network = network
        self.snapshots = snapshots
        self.defaults = defaults
    }

    // MARK: - Observe and plan

    /// Reads the host: every sandbox of every runtime, pools, snapshots, recorded policies.
    /// - Parameter known: earlier answers the runtimes may trust (see `ObservationTrust`).
    /// - Parameter resync: seconds a pool's last inspection of its slots stays trusted.
    public func observe(trusting known: [String: ObservedSandbox] = [:], resync: Double = 0) async throws -> ObservedState {
        var state = ObservedState()
        for runtime in runtimes.values.sorted(by: { $0.runtime.rawValue < $1.runtime.rawValue }) {
            for sandbox in try await runtime.observe(trusting: known) {
                // One name, one sandbox: two records would let each runtime undo the other.
                if let other = state.sandboxes[sandbox.name] {
                    throw ReconcileError.recordedTwice(name: sandbox.name, runtimes: [other.config.runtime, sandbox.config.runtime])
                }
                state.sandboxes[sandbox.name] = sandbox
            }
        }
        state.pools = try await network.observePools(trustingFor: resync)
        state.policies = try await store.applied(.balloonPolicy)
        state.snapshots = try await snapshots.observe()
        state.pulls = await snapshots.observePulls()
        return state
    }

    /// Observes and plans; changes nothing.
    public func plan(_ specs: SpecSet, options: ApplyOptions = ApplyOptions()) async throws -> PlanReport {
        let desired = try await desired(from: specs)
        let known = ObservationTrust(resync: options.resync).trusted(try await store.observedByName(), desired: desired.resources)
        let observed = try await observe(trusting: known)
        try checkNotEmpty(specs, desired, observed, options)
        let plan = await plan(desired, observed, options.plan)
        var leftovers: [String] = []
        for runtime in runtimes.values { leftovers += await runtime.leftovers() }
        return PlanReport(plan: plan, desired: desired, observed: observed, leftovers: leftovers.sorted())
    }

    /// The planner's plan, with what the runtimes' capabilities and preflight allow.
    private func plan(_ desired: DesiredState, _ observed: ObservedState, _ options: PlanOptions) async -> Plan {
        var options = options
        options.pruneHold = desired.pruneHold
        return await preflighted(Planner.plan(desired: desired.resources, observed: observed, defaults: defaults, options: options,
                                              capabilities: capabilities), observed: observed)
    }

    private func checkNotEmpty(_ specs: SpecSet, _ desired: DesiredState, _ observed: ObservedState, _ options: ApplyOptions) throws {
        // Held prunes destroy nothing, so there is nothing to refuse. The marker is honoured
        // only while its writer keeps it there (SpecSet.allowEmptyMarker).
        if desired.resources.isEmpty && !observed.isEmpty && !options.allowEmpty && !specs.emptyIntended && desired.pruneHold == nil {
            throw ReconcileError.emptySpecs(directory: specs.directory, existing: observed.count)
        }
    }

    // MARK: - Apply

    /// Converges the host to `specs`: re-observes and re-plans after every round until the
    /// plan is empty or `maxIterations` rounds ran. One failing resource does not stop the
    /// others; it is skipped for the rest of this apply and reported.
    public func apply(_ specs: SpecSet, options: ApplyOptions = ApplyOptions(),
                      progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }) async throws -> ApplyReport {
        guard !passInFlight else { throw CancellationError() }
        passInFlight = true
        defer { passInFlight = false }

        var clock = PhaseTimes()
        try await store.closeUnfinishedSteps()
        // Leftovers come from a crash or a failed step: after a clean pass of this actor
        // (which holds the state lock), they are looked for again only at the resync.
        var clearedAt = leftoversClearedAt
        leftoversClearedAt = nil  // until this pass ends without a failed action
        if clearedAt == nil || options.resync <= 0 || Clock.now - clearedAt! >= options.resync {
            clearedAt = Clock.now
            for runtime in runtimes.values { try await runtime.removeLeftovers() }
        }
        clock.lap("leftovers")
        let desired = try await desired(from: specs)
        let pass = try await store.beginPass(command: "apply")
        try await store.recordSpecs(Array(specs.resources.values), hashes: desired.hashes, known: desired.stored)
        clock.lap("desired state and spec records")
        for id in desired.frozen {
            // Its file does not validate: say where, and that nothing of it changes.
            let file = desired.resources[id]?.origin.file
            let first = specs.diagnostics.first { $0.file == file } ?? specs.diagnostics.first
            try await store.record(Event(id: id, type: .warning, reason: "SpecInvalid",
                                         message: "held at its last good spec: \(first?.description ?? "its file does not validate")"))
        }
        for unreadable in desired.unreadable {
            try await store.record(Event(id: unreadable.id, type: .warning, reason: "StoredSpecUnreadable",
                                         message: "\(unreadable); its file does not validate either, so it is left as it is"))
        }

        var outcomes: [ActionOutcome] = []
        var failed: [ResourceID: String] = [:]
        var reportedFindings: Set<String> = []
        var findings: [Finding] = []
        var plan = Plan()
        var iterations = 0
        var observed = ObservedState()
        var destroyBudget = 0
        var destroyed = 0
        let trust = ObservationTrust(resync: options.resync)
        var recorded: [String: ObservedSandbox]
        if let last = lastRecorded { recorded = last } else { recorded = try await store.observedByName() }
        var known = trust.trusted(recorded, desired: desired.resources)
        clock.lap("read recorded observations")
        clock.lap("read recorded observations")
        while true {
            observed = try await observe(trusting: known, resync: options.resync)
            clock.lap("observe")
            lastRecorded = nil  // until the write below is known to have landed
            try await store.recordObserved(Array(observed.sandboxes.values), previous: recorded)
            recorded = observed.sandboxes
            lastRecorded = recorded
            try await store.recordMemorySamples(Array(observed.sandboxes.values), at: Clock.now)
            if iterations == 0 {
                try checkNotEmpty(specs, desired, observed, options)
                destroyBudget = options.plan.maxDestroy ?? Pruning.defaultLimit(sandboxCount: observed.sandboxes.count)
            }
            // The prune guard holds for the whole pass, not for each round of it.
            var planOptions = options.plan
            planOptions.maxDestroy = max(0, destroyBudget - destroyed)
            clock.lap("record observed")
            plan = await self.plan(desired, observed, planOptions)
            clock.lap("plan")
            for finding in plan.findings where reportedFindings.insert("\(finding.id)|\(finding.reason)").inserted {
                findings.append(finding)
                progress(.finding(finding))
                try await store.record(Event(id: finding.id, type: .warning, reason: finding.reason, message: finding.message))
            }
            let runnable = plan.actions.filter { failed[$0.id] == nil && !options.deferred.contains($0.id) }
            guard !runnable.isEmpty, iterations < options.maxIterations, options.shouldStop?() != true else { break }
            iterations += 1
            progress(.iteration(iterations, actions: runnable.count))
            clock.lap("events")
            let results = await execute(runnable, observed: observed, pass: pass, concurrency: options.concurrency(for: runnable),
                                        shouldStop: options.shouldStop, progress: progress)
            clock.lap("actions")
            outcomes += results
            for r in results where !r.succeeded { failed[r.action.id] = r.error ?? "failed" }
            known = trust.trusted(Self.afterActions(observed.sandboxes, results), desired: desired.resources)
            destroyed += results.filter { $0.succeeded && $0.action.isDestructive }.count
        }
        let remaining = plan.actions
        let converged = remaining.isEmpty && failed.isEmpty && plan.heldBack.isEmpty
            && !plan.findings.contains { $0.severity == .blocked }
        clock.lap("events")
        try await recordConditions(desired: desired, plan: plan, failed: failed)
        // A removed spec whose sandbox never came to be has nothing to destroy, so no destroy
        // forgets it: forget it here, or its status would show it as wanted forever. (The
        // stored specs were read at the start of the pass: `generations` holds every one.)
        if desired.pruneHold == nil {
            for id in desired.generations.keys where id.kind == .sandbox && desired.resources[id] == nil && observed.sandboxes[id.name] == nil {
                try await store.forget(id)
            }
        }
        try await store.endPass(pass, outcome: converged ? "converged" : "not-converged", actions: outcomes.count)
        try await store.trimHistory()
        if failed.isEmpty { leftoversClearedAt = clearedAt }
        clock.lap("conditions")
        return ApplyReport(converged: converged, iterations: iterations, outcomes: outcomes, heldBack: plan.heldBack,
                           findings: findings, failed: failed, remaining: remaining, frozen: desired.frozen,
                           pruneHold: desired.pruneHold, observed: observed, phases: clock)
    }

    /// What the next round may trust after `results`: a sandbox acted on is asked again,
    /// except after a balloon change under a policy, whose new target the action has just
    /// verified with the VMM (asking a thousand guest agents again to learn it would cost
    /// the pass; the policy's interval asks them again soon enough).
    static func afterActions(_ sandboxes: [String: ObservedSandbox], _ results: [ActionOutcome]) -> [String: ObservedSandbox] {
        var next = sandboxes
        for result in results where result.action.id.kind == .sandbox {
            let name = result.action.id.name
            if result.succeeded, result.action.verb == .balloon, let size = result.action.balloon,
               next[name]?.balloon != nil, next[name]?.config.balloonPolicy != nil {
                next[name]?.balloon?.target = size
            } else {
                next[name] = nil
            }
        }
        return next
    }

    /// Runs `actions` as a graph: an action starts once the actions it depends on (and
    /// earlier actions on the same resource) succeeded; at most `concurrency` at once.
    /// Linear in the number of actions: a balloon pass runs a thousand at a time.
    private func execute(_ actions: [Action], observed: ObservedState, pass: Int64, concurrency: Int,
                         shouldStop: (@Sendable () -> Bool)?,
                         progress: @escaping @Sendable (ProgressEvent) -> Void) async -> [ActionOutcome] {
        let waitingOn = Self.dependencies(of: actions)
        var done: [ActionOutcome?] = Array(repeating: nil, count: actions.count)
        var started = Array(repeating: false, count: actions.count)
        // Every action before this index has started.
        var firstUnstarted = 0
        let context = ExecutionContext(store: store, runtimes: runtimes, network: network, snapshots: snapshots, observed: observed, pass: pass)
        await withTaskGroup(of: (Int, ActionOutcome).self) { group in
            var running = 0
            func launchReady() {
                var i = firstUnstarted
                while i < actions.count && running < max(1, concurrency) && shouldStop?() != true {
                    defer { i += 1 }
                    guard !started[i] else { continue }
                    let deps = waitingOn[i]
                    if let failedDep = deps.first(where: { done[$0].map { !$0.succeeded } ?? false }) {
                        started[i] = true
                        let reason = "\(actions[failedDep].id) \(actions[failedDep].verb.rawValue) failed"
                        progress(.skipped(actions[i], because: reason))
                        done[i] = ActionOutcome(action: actions[i], succeeded: false, error: "skipped: \(reason)", seconds: 0)
                        continue
                    }
                    guard deps.allSatisfy({ done[$0] != nil }) else { continue }
                    started[i] = true
                    running += 1
                    let index = i, action = actions[i]
                    progress(.started(action))
                    group.addTask { (index, await context.run(action)) }
                }
                while firstUnstarted < actions.count && started[firstUnstarted] { firstUnstarted += 1 }
            }
            launchReady()
            while let (i, outcome) = await group.next() {
                running -= 1
                done[i] = outcome
                progress(.finished(outcome.action, seconds: outcome.seconds, error: outcome.error))
                launchReady()
            }
            // Actions whose dependencies failed after the last launch round.
            launchReady()
        }
        return done.compactMap { $0 }
    }

    /// For each action, the earlier actions it waits for: those on the same resource and
    /// those on the resources it depends on.
    static func dependencies(of actions: [Action]) -> [[Int]] {
        var byID: [ResourceID: [Int]] = [:]
        var result: [[Int]] = []
        result.reserveCapacity(actions.count)
        for (i, action) in actions.enumerated() {
            var deps = byID[action.id] ?? []
            for id in action.dependsOn where id != action.id { deps += byID[id] ?? [] }
            result.append(deps.sorted())
            byID[action.id, default: []].append(i)
        }
        return result
    }

    private func recordConditions(desired: DesiredState, plan: Plan, failed: [ResourceID: String]) async throws {
        let pending = Set(plan.actions.map(\.id))
        let held = Set(plan.heldBack.map(\.id))
        let blocked = Dictionary(plan.findings.filter { $0.severity == .blocked }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [(ResourceID, Condition)] = []
        for id in desired.resources.keys.sorted() {
            let generation = desired.generations[id] ?? 1
            func set(_ type: String, _ status: Bool, _ reason: String, _ message: String) {
                rows.append((id, Condition(type: type, status: status, reason: reason, message: message, observedGeneration: generation)))
            }
            if let error = failed[id] {
                set("Ready", false, "ActionFailed", error)
                set("Progressing", false, "ActionFailed", error)
                set("Degraded", true, "ActionFailed", error)
            } else if let finding = blocked[id] {
                set("Ready", false, finding.reason, finding.message)
                set("Progressing", false, finding.reason, finding.message)
                set("Degraded", true, finding.reason, finding.message)
            } else if pending.contains(id) || held.contains(id) {
                let why = held.contains(id) ? "held back by the prune guard" : "actions remain"
                set("Ready", false, "Progressing", why)
                set("Progressing", true, held.contains(id) ? "HeldBack" : "ActionsPending", why)
                set("Degraded", false, "Progressing", "")
            } else if desired.frozen.contains(id) {
                set("Ready", false, "SpecInvalid", "its spec file is invalid; held at the last good spec")
                set("Progressing", false, "SpecInvalid", "")
                set("Degraded", true, "SpecInvalid", "its spec file is invalid; held at the last good spec")
            } else {
                set("Ready", true, "Converged", "matches its spec")
                set("Progressing", false, "Converged", "")
                set("Degraded", false, "Converged", "")
            }
        }
        // What no spec names but is kept (held prunes, the prune guard) says why, too.
        for id in Set(blocked.keys).union(held).subtracting(desired.resources.keys).sorted() {
            let why = blocked[id].map { ($0.reason, $0.message) } ?? ("HeldBack", "held back by the prune guard; raise --max-destroy or pass --force")
            for type in ["Ready", "Progressing", "Degraded"] {
                rows.append((id, Condition(type: type, status: type == "Degraded", reason: why.0, message: why.1, observedGeneration: 0)))
            }
        }
        try await store.setConditions(rows)
    }
}
