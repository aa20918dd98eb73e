extension Daytona {
    /// `CreateSandboxDTO` (apps/runner/pkg/api/dto/sandbox.go): the fields a VM runner uses.
    /// Quotas are cores and GiB.
    public struct CreateSandboxDTO: Sendable, Codable, Equatable {
        public var id: String
        public var snapshot: String
        public var cpuQuota: Int64?
        public var memoryQuota: Int64?
        public var storageQuota: Int64?
        public var skipStart: Bool?
        public var sandboxClass: String?

        public init(id: String, snapshot: String, cpuQuota: Int64? = nil, memoryQuota: Int64? = nil, storageQuota: Int64? = nil,
                    skipStart: Bool? = nil, sandboxClass: String? = nil) {
            self.id = id
            self.snapshot = snapshot
            self.cpuQuota = cpuQuota
            self.memoryQuota = memoryQuota
            self.storageQuota = storageQuota
            self.skipStart = skipStart
            self.sandboxClass = sandboxClass
        }
    }

    /// `ResizeSandboxDTO`: cores and GiB; absent or 0 leaves a value as it is.
    public struct ResizeSandboxDTO: Sendable, Codable, Equatable {
        public var cpu: Int64?
        public var memory: Int64?
        public var disk: Int64?
    }

    /// `ForkSandboxPayload` (runner.v1alpha1, protobuf JSON names).
    public struct ForkSandboxPayload: Sendable, Codable, Equatable {
        public var sourceSandboxId: String
        public var newSandboxId: String?
    }

    /// `SnapshotSandboxPayload` (runner.v1alpha1); proto3 may leave `includeMemory` out when false.
    public struct SnapshotSandboxPayload: Sendable, Codable, Equatable {
        public var sandboxId: String?
        public var name: String
        public var includeMemory: Bool?
    }

    /// `SandboxInfoResponse` (runner REST `GET /sandboxes/:id`).
    public struct SandboxInfoResponse: Sendable, Codable, Equatable {
        public var state: String
        public var backupState: String
        public var daemonVersion: String?
        public var recoverable: Bool
    }
}
