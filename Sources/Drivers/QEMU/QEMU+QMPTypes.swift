extension QEMU {
    /// QMP `RunState`, as `query-status` reports it. Unknown strings are kept, never fatal.
    public enum RunState: Sendable, Hashable, CustomStringConvertible {
        case debug, inmigrate, internalError, ioError, paused, postmigrate, prelaunch, finishMigrate
        case restoreVM, running, saveVM, shutdown, suspended, watchdog, guestPanicked, colo
        case unknown(String)

        private static let names: [(RunState, String)] = [
            (.debug, "debug"), (.inmigrate, "inmigrate"), (.internalError, "internal-error"), (.ioError, "io-error"),
            (.paused, "paused"), (.postmigrate, "postmigrate"), (.prelaunch, "prelaunch"),
            (.finishMigrate, "finish-migrate"), (.restoreVM, "restore-vm"), (.running, "running"),
            (.saveVM, "save-vm"), (.shutdown, "shutdown"), (.suspended, "suspended"), (.watchdog, "watchdog"),
            (.guestPanicked, "guest-panicked"), (.colo, "colo"),
        ]

        public init(raw: String) { self = Self.names.first { $0.1 == raw }?.0 ?? .unknown(raw) }

        /// The upstream spelling.
        public var raw: String {
            if case .unknown(let raw) = self { return raw }
            return Self.names.first { $0.0 == self }?.1 ?? "unknown"
        }

        public var description: String { raw }
    }

    /// QMP `MigrationStatus`. Unknown strings are kept, never fatal.
    public enum MigrationStatus: Sendable, Hashable, CustomStringConvertible {
        case none, setup, cancelling, cancelled, active, postcopyActive, postcopyPaused, postcopyRecover
        case completed, failed, colo, preSwitchover, device, waitUnplug
        case unknown(String)

        private static let names: [(MigrationStatus, String)] = [
            (.none, "none"), (.setup, "setup"), (.cancelling, "cancelling"), (.cancelled, "cancelled"),
            (.active, "active"), (.postcopyActive, "postcopy-active"), (.postcopyPaused, "postcopy-paused"),
            (.postcopyRecover, "postcopy-recover"), (.completed, "completed"), (.failed, "failed"), (.colo, "colo"),
            (.preSwitchover, "pre-switchover"), (.device, "device"), (.waitUnplug, "wait-unplug"),
        ]

        public init(raw: String) { self = Self.names.first { $0.1 == raw }?.0 ?? .unknown(raw) }

        /// The upstream spelling.
        public var raw: String {
            if case .unknown(let raw) = self { return raw }
            return Self.names.first { $0.0 == self }?.1 ?? "unknown"
        }

        public var description: String { raw }
    }

    /// The `return` of `query-status` (`singlestep` is left out).
    struct StatusInfo: Decodable {
        var running: Bool
        var status: String
    }

    /// The `return` of `query-balloon`.
    struct BalloonInfo: Decodable {
        var actual: Int64
    }

    /// The `return` of `query-memory-size-summary`, in bytes.
    public struct MemorySizeSummary: Sendable, Hashable, Decodable {
        /// Boot memory (`-m SIZE`).
        public var baseMemory: Int64
        /// Memory added through pc-dimm/virtio-mem; absent (nil) when nothing is plugged.
        public var pluggedMemory: Int64?

        enum CodingKeys: String, CodingKey {
            case baseMemory = "base-memory"
            case pluggedMemory = "plugged-memory"
        }
    }

    /// The `return` of `query-migrate`: the fields the driver reads.
    public struct MigrationInfo: Sendable, Hashable, Decodable {
        /// nil before any migration (QEMU answers `{}`).
        public var status: MigrationStatus?
        /// Why a migration failed.
        public var errorDesc: String?
        /// Milliseconds from start to completion.
        public var totalTime: Int64?

        enum CodingKeys: String, CodingKey {
            case status
            case errorDesc = "error-desc"
            case totalTime = "total-time"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            status = try c.decodeIfPresent(String.self, forKey: .status).map(MigrationStatus.init(raw:))
            errorDesc = try c.decodeIfPresent(String.self, forKey: .errorDesc)
            totalTime = try c.decodeIfPresent(Int64.self, forKey: .totalTime)
        }
    }
}
