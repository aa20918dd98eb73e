import Resources

/// The actions that bring one sandbox from what was observed to its spec.
enum SandboxDiff {
    struct Result {
        var actions: [Action] = []
        var findings: [Finding] = []
    }

    static func actions(name: String, spec: SandboxSpec, config desired: SandboxConfig, observed: ObservedSandbox?,
                        observedAll: ObservedState, capabilities can: RuntimeCapabilities = .all) -> Result {
        let id = ResourceID(.sandbox, name)
        var result = Result()
        // What the runtime cannot do at all is refused with the reason, not attempted.
        if spec.state == .paused && !can.pause {
            result.findings.append(Finding(id, .blocked, reason: "PauseUnsupported",
                                           message: "runtime \(desired.runtime.rawValue) cannot pause a VM; use state running or stopped"))
            return result
        }
        let forks = if case .fork = spec.source { true } else { false }
        if (spec.state == .suspended && !can.memorySnapshot) || (forks && !can.fork) {
            result.findings.append(Finding(id, .blocked, reason: "MemoryStateUnsupported",
                                           message: "runtime \(desired.runtime.rawValue) cannot \(forks ? "fork a running VM" : "save a VM's memory, so it cannot suspend"); use state paused or stopped, or source.image"))
            return result
        }
        if spec.balloonPolicy != nil && !can.balloon {
            result.findings.append(Finding(id, .blocked, reason: "BalloonUnsupported",
                                           message: "runtime \(desired.runtime.rawValue) has no balloon; remove spec.balloon"))
        }
        // A pool being applied or repaired goes first: a sandbox's slot may be what it repairs.
        // Worked out only for an action: a converged sandbox has none.
        var needs: [ResourceID] {
            DependencyOrder.sandboxNeeds(pool: desired.networkPool, policy: desired.balloonPolicy, source: desired.source)
                .filter { $0.kind != .tapPool || (observedAll.pools[$0.name]?.broken ?? 1) > 0 }
        }
        guard let observed else {
            result.actions.append(Action(id, .create, reason: "not found on the host", dependsOn: needs,
                                         config: desired, targetState: spec.state))
            return result
        }
        let applied = observed.config
        let alive = observed.vm.hasProcess
        // Only a booted VM takes vm.resize; a VMM in any other state is restarted by the
        // transition below, from the recorded config.
        let resizable = observed.vm == .running || observed.vm == .paused

        // 1. Identity: another source is another disk (CONTRACT §1); another runtime is
        //    another VM on the same disk.
        if applied.source != desired.source {
            var changes = [Change("source", from: "\(applied.source)", to: "\(desired.source)")]
            if applied.runtime != desired.runtime { changes.append(Change("runtime", from: applied.runtime.rawValue, to: desired.runtime.rawValue)) }
            result.actions.append(Action(id, .replace, reason: "source changed (forces replacement; the disk is rebuilt from the new source)",
                                         changes: changes, dependsOn: needs, config: desired, targetState: spec.state, keepsDisk: false))
            return result
        }
        if applied.runtime != desired.runtime {
            // Each runtime keeps its sandboxes in its own directories: a disk that must be kept
            // cannot follow the sandbox there yet, and rebuilding it would lose data.
            guard !observed.diskExists else {
                result.findings.append(Finding(id, .blocked, reason: "RuntimeChangeRefused",
                                               message: "runtime \(applied.runtime.rawValue) → \(desired.runtime.rawValue) would move the sandbox and its disk to another VMM's directories, which this version does not do; it is left as it is. Restore spec.runtime, or recreate the sandbox under a new name"))
                return result
            }
            result.actions.append(Action(id, .replace, reason: "runtime changed and the sandbox has no disk yet (nothing to keep)",
                                         changes: [Change("runtime", from: applied.runtime.rawValue, to: desired.runtime.rawValue)],
                                         dependsOn: needs, config: desired, targetState: spec.state, keepsDisk: false))
            return result
        }
        if !observed.diskExists {
            // Nothing to lose: a create interrupted before its disk was made (or a disk
            // deleted by hand). Creating again is not destructive for the prune guard.
            result.actions.append(Action(id, .create, reason: "recorded but its disk is missing (an interrupted create?); creating it from \(desired.source)",
                                         dependsOn: needs, config: desired, targetState: spec.state))
            return result
        }

        // The disk survives everything below, so it may only grow.
        if desired.disk < applied.disk {
            result.findings.append(Finding(id, .blocked, reason: "DiskShrinkRefused",
                                           message: "spec.disk \(desired.disk) is smaller than the disk's \(applied.disk); a disk never shrinks. Restore spec.disk or recreate the sandbox under a new name"))
        }

        // 2. Boot-time shape: ceilings, devices and network slot are fixed while the VMM lives.
        let changes = FieldDiff.changes(from: applied, to: desired)
        let bootMemory = applied.bootMemory ?? applied.memory
        let bootShapeChanged = applied.limits != desired.limits || applied.gpus != desired.gpus
            || applied.networkPool != desired.networkPool
            || applied.snapshotCompatible != desired.snapshotCompatible
            || desired.cpus > applied.maxCpus || desired.memory > applied.maxMemory
            || desired.memory < bootMemory
            || (desired.cpus != applied.cpus && !can.liveCPUResize)
            || (desired.memory > applied.memory && !can.liveMemoryGrow)
            || (desired.memory < applied.memory && !can.liveMemoryShrink)
        if bootShapeChanged && alive {
            var replacement = desired
            replacement.disk = max(applied.disk, desired.disk)  // the kept disk never shrinks
            result.actions.append(Action(id, .replace, reason: replaceReason(applied, desired, can) + " (forces replacement; the disk is kept)",
                                         changes: changes, dependsOn: needs, config: replacement, targetState: spec.state, keepsDisk: true))
            return result
        }

        // 3. Size within the ceilings, and recorded-only fields. Disk changes go through
        //    grow-disk (after this), or are refused.
        var target = desired
        target.disk = applied.disk
        if alive {
            // A live VM keeps the ceilings and boot size it booted with.
            target.maxCpus = applied.maxCpus
            target.maxMemory = applied.maxMemory
            target.bootMemory = bootMemory
        }
        if resizable && (desired.cpus != applied.cpus || desired.memory != applied.memory) {
            let sizeChanges = changes.filter { $0.field == "cpus" || $0.field == "memory" }
            result.actions.append(Action(id, .resize, reason: "in place, within the boot-time ceiling (\(applied.maxCpus) cpus, \(applied.maxMemory))",
                                         changes: sizeChanges, config: target))
        } else if target != applied {
            result.actions.append(Action(id, .update, reason: alive ? "recorded; takes effect without a restart" : "recorded; applies at the next start",
                                         changes: changes.filter { $0.field != "disk" }, config: target))
        }

        // 4. Disk: grows while stopped, never shrinks (refused above).
        if desired.disk > applied.disk {
            if alive {
                result.findings.append(Finding(id, .blocked, reason: "DiskGrowWhileRunning",
                                               message: "spec.disk grows \(applied.disk) → \(desired.disk) once the sandbox is stopped (set state: stopped, apply, then back)"))
            } else {
                result.actions.append(Action(id, .growDisk, reason: "disk grows", changes: [Change("disk", from: "\(applied.disk)", to: "\(desired.disk)")],
                                             config: desired))
            }
        }

        // 5. Power state.
        if var transition = transition(id: id, want: spec.state, observed: observed, findings: &result.findings) {
            transition.dependsOn = needs  // a start may need its pool's slot repaired first
            result.actions.append(transition)
        }
        return result
    }

    private static func replaceReason(_ a: SandboxConfig, _ d: SandboxConfig, _ can: RuntimeCapabilities) -> String {
        if a.limits != d.limits { return "limits changed" }
        if a.gpus != d.gpus { return "devices.gpus changed" }
        if a.networkPool != d.networkPool { return "network.pool changed" }
        if a.snapshotCompatible != d.snapshotCompatible { return "snapshotCompatible changed (a launch-time setting of the device)" }
        if d.cpus != a.cpus && !can.liveCPUResize { return "runtime \(d.runtime.rawValue) cannot change vCPUs of a running VM" }
        if d.memory > a.memory && !can.liveMemoryGrow { return "runtime \(d.runtime.rawValue) cannot add memory to a running VM" }
        if d.memory < a.memory && !can.liveMemoryShrink { return "runtime \(d.runtime.rawValue) cannot take memory from a running VM" }
        if d.cpus > a.maxCpus { return "cpus \(d.cpus) exceed the boot-time ceiling of \(a.maxCpus) (raise limits.cpus for in-place resize)" }
        if d.memory < (a.bootMemory ?? a.memory) {
            return "memory \(d.memory) is below the \((a.bootMemory ?? a.memory)) the VM booted with, which cannot be unplugged live"
        }
        return "memory \(d.memory) exceeds the boot-time ceiling of \(a.maxMemory) (raise limits.memory for in-place resize)"
    }

    /// The power transition, if the VM is not in the wanted state.
    private static func transition(id: ResourceID, want: PowerState, observed: ObservedSandbox, findings: inout [Finding]) -> Action? {
        let vm = observed.vm
        let drifted = vm == .absent && observed.intendedState != .stopped && observed.intendedState != .suspended
            && want != .stopped && want != .suspended
        if drifted {
            findings.append(Finding(id, .drift, reason: "VMMExited",
                                    message: "the VMM process exited while the sandbox should be \(observed.intendedState.rawValue)"))
        }
        switch vm {
        case .unresponsive where observed.misplaced != nil:
            findings.append(Finding(id, .drift, reason: "VMMOutsideSlot", message: observed.misplaced!))
        case .unresponsive:
            findings.append(Finding(id, .drift, reason: "VMMUnresponsive", message: "the VMM process lives but does not answer on its API socket"))
        case .shutdown:
            findings.append(Finding(id, .drift, reason: "GuestPoweredOff", message: "the guest powered itself off"))
        case .unknown(let raw):
            findings.append(Finding(id, .drift, reason: "UnknownVMState", message: "the VMM reports an unknown state '\(raw)'"))
        default: break
        }
        if let now = observed.powerState, now == want { return nil }
        let from = drifted ? "exited" : observed.powerState?.rawValue ?? vm.description
        let change = [Change("state", from: from, to: want.rawValue)]
        let verb: Verb
        switch (want, vm) {
        case (.running, .paused): verb = .resume
        case (.running, .absent) where observed.intendedState == .suspended: verb = .resume
        case (.running, _), (.paused, .absent), (.paused, .created), (.paused, .shutdown), (.paused, .unresponsive), (.paused, .unknown):
            verb = .start
        case (.paused, _): verb = .pause
        case (.stopped, _): verb = .stop
        case (.suspended, _): verb = .suspend
        }
        let reason = drifted ? "the VMM process exited; bringing it back" : "state \(from) → \(want.rawValue)"
        return Action(id, verb, reason: reason, changes: change, targetState: want)
    }
}
