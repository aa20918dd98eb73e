import Reconciler
import Resources

/// What `-v` adds: the resources a plan leaves alone, what is observed of every
/// resource, and (for apply) every journal step of the pass.
enum Verbose {
    static func print(_ report: PlanReport) {
        let acted = Set((report.plan.actions + report.plan.heldBack).map(\.id))
        let unchanged = report.desired.resources.keys.filter { !acted.contains($0) }.sorted()
        if !unchanged.isEmpty {
            Swift.print("\nUnchanged:")
            for id in unchanged { Swift.print("  =   \(id)") }
        }
        observed(report.observed)
    }

    /// One line per resource on the host, as the planner saw it.
    static func observed(_ o: ObservedState) {
        Swift.print("\nObserved on the host:")
        if o.isEmpty { Swift.print("  nothing") }
        for (name, p) in o.pools.sorted(by: { $0.key < $1.key }) {
            Swift.print("  TapPool/\(name): \(p.ready) ready, \(p.claimed) claimed, \(p.broken) broken")
        }
        for name in o.policies.keys.sorted() { Swift.print("  BalloonPolicy/\(name): recorded") }
        for (name, s) in o.sandboxes.sorted(by: { $0.key < $1.key }) {
            var parts = [s.powerState?.rawValue ?? s.vm.description, "\(s.liveCpus ?? s.config.cpus) cpus",
                         "memory \(s.liveMemory ?? s.config.memory)", "disk \(s.config.disk)\(s.diskExists ? "" : " (missing)")"]
            if let pid = s.process?.pid { parts.append("pid \(pid)") }
            if let address = s.slot?.slotAddress { parts.append(address) }
            if let b = s.balloon { parts.append("balloon \(b.size)") }
            Swift.print("  Sandbox/\(name): \(parts.joined(separator: ", "))")
        }
        for name in o.snapshots.keys.sorted() { Swift.print("  Snapshot/\(name): present") }
    }

    /// The journal rows written after the first `skip`: this pass's steps, in order.
    static func steps(_ rows: [(id: ResourceID, action: String, step: String, outcome: String)], skip: Int) {
        let mine = rows.dropFirst(skip)
        guard !mine.isEmpty else { return }
        Swift.print("\nJournal steps:")
        for row in mine { Swift.print("  \(row.id) \(row.action) \(row.step): \(row.outcome)") }
    }
}
