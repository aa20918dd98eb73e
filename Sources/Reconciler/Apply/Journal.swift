import Foundation
import Resources

/// A step that failed: which one, and why. The executor shows the step to the user.
public struct StepFailure: Error, Sendable, CustomStringConvertible {
    public var step: String
    public var message: String
    public var description: String { "at step \(step): \(message)" }

    public init(step: String, message: String) {
        self.step = step
        self.message = message
    }
}

/// Journals the steps of one action in the store: the intent row is written before the
/// body runs, the outcome after. The crash hook fires around each step.
struct StoreJournal: StepJournal {
    let store: Store
    let pass: Int64
    let id: ResourceID
    let action: String

    func step<T: Sendable>(_ step: JournalStep, isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        let name = step.rawValue
        CrashHook.shared.check(step: name, phase: .before)
        let row = try await store.journalIntent(pass: pass, id: id, action: action, step: name)
        do {
            let value = try await body()
            try await store.journalOutcome(row, error: nil)
            CrashHook.shared.check(step: name, phase: .after)
            return value
        } catch let failure as StepFailure {
            try? await store.journalOutcome(row, error: failure.message)
            throw failure
        } catch {
            try? await store.journalOutcome(row, error: "\(error)")
            throw StepFailure(step: name, message: "\(error)")
        }
    }

    func note(_ reason: String, _ message: String) async {
        try? await store.record(Event(id: id, type: .normal, reason: reason, message: message))
    }
}

/// A journal that records nothing, for read-only callers and tests of drivers alone.
public struct NoJournal: StepJournal {
    public init() {}
    public func step<T: Sendable>(_ name: JournalStep, isolation: isolated (any Actor)?, _ body: () async throws -> T) async throws -> T {
        try await body()
    }
}
