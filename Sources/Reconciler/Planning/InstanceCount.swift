import Resources

/// Runtimes with a host-wide cap on instances (`RuntimeCapabilities.instanceLimit`): creates
/// are admitted in plan order while a slot is free; the others wait as `Pending` findings and
/// are planned again once a sandbox of that runtime is gone. Pure, like the planner.
struct InstanceCount {
    private var limits: [Runtime: Int] = [:]
    private var used: [Runtime: [String]] = [:]

    init(observed: ObservedState, capabilities: [Runtime: RuntimeCapabilities]) {
        for (runtime, can) in capabilities {
            guard let limit = can.instanceLimit else { continue }
            limits[runtime] = limit
            // A sandbox whose device exists holds a slot, whatever its power state.
            used[runtime] = observed.sandboxes.values.filter { $0.config.runtime == runtime && $0.diskExists }.map(\.name).sorted()
        }
    }

    /// Counts a create against its runtime's cap, or turns it into a `Pending` finding.
    mutating func admit(_ actions: inout [Action], _ findings: inout [Finding], runtime: Runtime, current: ObservedSandbox?) {
        guard let limit = limits[runtime] else { return }
        // A create of a sandbox without a device, or a replacement that moves it here from another runtime.
        let needsSlot = actions.contains { $0.verb == .create || ($0.verb == .replace && current?.config.runtime != runtime) }
        guard needsSlot, let first = actions.first else { return }
        let holders = used[runtime, default: []]
        guard holders.count >= limit else {
            used[runtime, default: []].append(first.id.name)
            return
        }
        actions.removeAll()
        findings.append(Finding(first.id, .blocked, reason: "Pending",
                                message: "waits for a free \(runtime.rawValue) instance: all \(limit) allowed on this host are in use (\(holders.prefix(5).joined(separator: ", "))\(holders.count > 5 ? ", …" : "")); it is created once one is destroyed (or raise the host's instance limit)"))
    }
}
