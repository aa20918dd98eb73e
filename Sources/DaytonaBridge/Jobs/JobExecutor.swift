import Foundation
import Resources

/// How a job ended: what is reported to the control plane.
public enum JobOutcome: Sendable, Equatable {
    case completed(resultMetadata: String?)
    case failed(String)
}

/// Runs one job: writes its specs (idempotent: the write is the job), then waits until
/// `converge run` observes the goal, or reports why it cannot.
public struct JobExecutor: Sendable {
    var directory: SpecDirectory
    var check: GoalCheck
    var translator: JobTranslator
    /// Reported as `daemonVersion`: Converge has no in-sandbox daemon of Daytona's.
    var daemonVersion: String
    /// How often status files are read while waiting.
    var interval: Double = 0.05

    public init(directory: SpecDirectory, status: ObservedStatus, linuxRuntime: Runtime, failAfter: Double, version: String) {
        self.directory = directory
        check = GoalCheck(status: status, failAfter: failAfter)
        translator = JobTranslator(linuxRuntime: linuxRuntime)
        daemonVersion = "converge-\(version)"
    }

    /// Writes the job's specs and waits for the goal until `deadline` seconds pass.
    /// - Throws: `CancellationError` only: every other problem is a failed outcome.
    public func run(_ job: Daytona.Job) async throws -> JobOutcome {
        let plan: JobPlan
        do {
            plan = try translator.plan(job, current: try directory.load().resources)
            for change in plan.changes {
                switch change {
                case .put(let file, let text): try directory.put(file, text)
                case .remove(let file): try directory.remove(file)
                }
            }
        } catch let refused as JobRefused {
            return .failed(refused.message)
        } catch {
            return .failed("\(job.type) \(job.resourceId): \(error)")
        }
        let limit = Self.deadline(job.type)
        let start = Date()
        var degradedSince: Date?
        var last = "nothing observed yet"
        while Date().timeIntervalSince(start) < limit {
            switch check.verdict(plan.goal, degradedSince: &degradedSince) {
            case .reached(let row): return .completed(resultMetadata: result(plan.result, row))
            case .failed(let message): return .failed(message)
            case .pending(let why): last = why
            }
            try await Task.sleep(for: .seconds(interval))
        }
        return .failed("not converged within \(Int(limit / 60)) minutes: \(last)")
    }

    /// Below the control plane's stale-job timeouts (§6: CREATE 30 min, SNAPSHOT 120,
    /// others 10), so a stuck job is failed with a reason rather than timed out blind.
    static func deadline(_ type: Daytona.JobType) -> Double {
        switch type {
        case .createSandbox: 28 * 60
        case .snapshotSandbox: 110 * 60
        default: 9 * 60
        }
    }

    private func result(_ shape: ResultShape, _ row: StatusRow?) -> String? {
        switch shape {
        case .nothing: return nil
        case .empty: return "{}"
        case .daemonVersion: return Self.json(["daemonVersion": daemonVersion])
        case .snapshotRef(let name):
            let bytes = row?.sizeOnDiskBytes ?? 0
            // Converge snapshots are directories, not OCI images: the hash identifies this capture.
            let hash = String(FNV1a.hash("\(name):\(row?.generation ?? 0):\(bytes)"), radix: 16).leftPadded(16)
            return "{\"ref\":\(Self.json(name)),\"hash\":\(Self.json(hash)),\"sizeGB\":\(Double(bytes) / 1_073_741_824)}"
        }
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }
}
