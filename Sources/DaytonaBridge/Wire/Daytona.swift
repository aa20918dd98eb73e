/// The Daytona control plane's wire types, with upstream names (reference §3, Daytona
/// v0.190.0). Each type says which DTO or endpoint it maps to.
public enum Daytona {}

extension Daytona {
    /// `JobType` (apps/api/src/sandbox/enums/job-type.enum.ts). Unknown spellings are kept.
    public enum JobType: Hashable, Sendable, Codable, CustomStringConvertible {
        case createSandbox, startSandbox, stopSandbox, destroySandbox, resizeSandbox, createBackup, buildSnapshot
        case pullSnapshot, recoverSandbox, inspectSnapshotInRegistry, removeSnapshot, updateSandboxNetworkSettings
        case snapshotSandbox, forkSandbox, pauseSandbox
        case unknown(String)

        static let spellings: [(JobType, String)] = [
            (.createSandbox, "CREATE_SANDBOX"), (.startSandbox, "START_SANDBOX"), (.stopSandbox, "STOP_SANDBOX"),
            (.destroySandbox, "DESTROY_SANDBOX"), (.resizeSandbox, "RESIZE_SANDBOX"), (.createBackup, "CREATE_BACKUP"),
            (.buildSnapshot, "BUILD_SNAPSHOT"), (.pullSnapshot, "PULL_SNAPSHOT"), (.recoverSandbox, "RECOVER_SANDBOX"),
            (.inspectSnapshotInRegistry, "INSPECT_SNAPSHOT_IN_REGISTRY"), (.removeSnapshot, "REMOVE_SNAPSHOT"),
            (.updateSandboxNetworkSettings, "UPDATE_SANDBOX_NETWORK_SETTINGS"), (.snapshotSandbox, "SNAPSHOT_SANDBOX"),
            (.forkSandbox, "FORK_SANDBOX"), (.pauseSandbox, "PAUSE_SANDBOX"),
        ]
        /// Every type the reference names, for tests that must cover them all.
        public static var allKnown: [JobType] { spellings.map(\.0) }

        public init(_ raw: String) { self = Self.spellings.first { $0.1 == raw }?.0 ?? .unknown(raw) }
        public var description: String {
            if case .unknown(let raw) = self { return raw }
            return Self.spellings.first { $0.0 == self }!.1
        }
        public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(description)
        }
    }

    /// `JobStatus`.
    public enum JobStatus: String, Sendable, Codable {
        case pending = "PENDING", inProgress = "IN_PROGRESS", completed = "COMPLETED", failed = "FAILED"
    }

    /// `Job` (apps/api/src/sandbox/dto/job.dto.ts). `payload` is JSON text.
    public struct Job: Sendable, Codable, Equatable {
        public var id: String
        public var type: JobType
        public var status: String?
        public var resourceType: String?
        public var resourceId: String
        public var payload: String?
        public var createdAt: String?

        public init(id: String, type: JobType, resourceId: String, payload: String? = nil) {
            self.id = id
            self.type = type
            self.resourceId = resourceId
            self.payload = payload
        }
    }

    /// Answer of `GET /api/jobs/poll`.
    struct PollResponse: Decodable { var jobs: [Job] }

    /// Answer of `GET /api/jobs` (`PaginatedJobs`).
    struct JobPage: Decodable {
        var items: [Job]
        var totalPages: Int?
    }

    /// `UpdateJobStatus`: body of `POST /api/jobs/{id}/status`; `resultMetadata` is JSON text.
    public struct UpdateJobStatus: Sendable, Codable, Equatable {
        public var status: JobStatus
        public var errorMessage: String?
        public var resultMetadata: String?
    }
}
