import Foundation
import Resources

/// Carries out one action through the right driver, journaled, and records its event.
struct ExecutionContext: Sendable {
    let store: Store
    let runtimes: [Runtime: any SandboxRuntime]
    let network: any HostNetwork
    let snapshots: any SnapshotDriver
    let observed: ObservedState
    let pass: Int64

    func run(_ action: Action) async -> ActionOutcome {
        let start = Date()
        let journal = StoreJournal(store: store, pass: pass, id: action.id, action: action.verb.rawValue)
        do {
            try await perform(action, journal)
            if action.verb == .destroy { try await store.forget(action.id) }
            try? await store.record(Event(id: action.id, type: .normal, reason: Self.pastTense(action.verb),
                                          message: action.changes.isEmpty ? action.reason : "\(action.reason): \(action.changes.map(\.description).joined(separator: ", "))"))
            return ActionOutcome(action: action, succeeded: true, error: nil, seconds: Date().timeIntervalSince(start))
        } catch {
            let message = "\(action.verb.rawValue) failed \(error)"
            try? await store.record(Event(id: action.id, type: .warning, reason: Self.failureReason(action.verb), message: message))
            return ActionOutcome(action: action, succeeded: false, error: message, seconds: Date().timeIntervalSince(start))
        }
    }

    private func perform(_ action: Action, _ journal: StoreJournal) async throws {
        let name = action.id.name
        switch action.id.kind {
        case .tapPool:
            if action.verb == .destroy {
                try await network.removePool(name, journal: journal)
            } else if case .tapPool(let spec)? = action.body {
                try await network.ensurePool(name, spec: spec, journal: journal)
            }
        case .balloonPolicy:
            try await journal.step(.policyRecord) {
                try await store.setApplied(action.id, action.verb == .destroy ? nil : action.body)
            }
        case .snapshot:
            if action.verb == .push, case .snapshot(let spec)? = action.body {
                try await snapshots.push(name, settings: spec.registry ?? RegistrySettings(), journal: journal)
                return
            }
            if action.verb == .destroy || action.verb == .replace { try await snapshots.remove(name, journal: journal) }
            if action.verb != .destroy, case .snapshot(let spec)? = action.body {
                try await snapshots.take(name, spec: spec, journal: journal)
            }
        case .sandbox:
            try await performSandbox(action, name, journal)
        }
    }

    private func performSandbox(_ action: Action, _ name: String, _ journal: StoreJournal) async throws {
        let runtime = try runtime(for: action.config?.runtime ?? observed.sandboxes[name]?.config.runtime)
        switch action.verb {
        case .create:
            try await runtime.create(name, config: action.config!, state: action.targetState ?? .running, reuseDisk: false, journal: journal)
        case .replace:
            let old = try self.runtime(for: observed.sandboxes[name]?.config.runtime ?? action.config!.runtime)
            try await old.destroy(name, keepDisk: action.keepsDisk, journal: journal)
            try await runtime.create(name, config: action.config!, state: action.targetState ?? .running, reuseDisk: action.keepsDisk, journal: journal)
        case .start, .stop, .pause, .resume, .suspend:
            try await runtime.transition(name, to: action.targetState!, journal: journal)
        case .resize:
            try await runtime.resize(name, config: action.config!, journal: journal)
        case .balloon:
            try await runtime.setBalloon(name, to: action.balloon ?? Quantity(bytes: 0), journal: journal)
        case .update:
            try await runtime.update(name, config: action.config!, journal: journal)
        case .growDisk:
            try await runtime.growDisk(name, to: action.config!.disk, journal: journal)
        case .destroy:
            try await runtime.destroy(name, keepDisk: false, journal: journal)
        case .push:
            throw StepFailure(step: "runtime.select", message: "a sandbox is not pushed; push a Snapshot of it")
        }
    }

    private func runtime(for runtime: Runtime?) throws -> any SandboxRuntime {
        guard let runtime else { throw StepFailure(step: "runtime.select", message: "the sandbox's runtime is unknown") }
        guard let driver = runtimes[runtime] else {
            throw StepFailure(step: "runtime.select", message: "runtime \(runtime.rawValue) is not available on this host in this version of Converge")
        }
        return driver
    }

    /// `CreateFailed`, `GrowDiskFailed`, …
    static func failureReason(_ verb: Verb) -> String {
        verb.rawValue.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Failed"
    }

    static func pastTense(_ verb: Verb) -> String {
        switch verb {
        case .create: "Created"
        case .start: "Started"
        case .stop: "Stopped"
        case .pause: "Paused"
        case .resume: "Resumed"
        case .suspend: "Suspended"
        case .resize: "Resized"
        case .balloon: "BalloonResized"
        case .update: "Updated"
        case .growDisk: "DiskGrown"
        case .push: "Pushed"
        case .replace: "Replaced"
        case .destroy: "Destroyed"
        }
    }
}
