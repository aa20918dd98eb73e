import Foundation

extension Cuttlefish {
    /// What `cvd fleet` prints on stdout: every group of the calling uid.
    public struct Fleet: Decodable, Sendable {
        public var groups: [Group]

        /// The first instance of group `name`, if the group exists.
        public func instance(of name: String) -> Instance? {
            groups.first { $0.groupName == name }?.instances.first
        }

        /// Instance ids some group holds (what `cvd create` will not hand out).
        public var ids: Set<Int> { Set(groups.flatMap { $0.instances.compactMap(\.id) }) }
    }

    /// One group (`cvd create` and `cvd start` print one such object).
    public struct Group: Decodable, Sendable {
        public var groupName: String
        public var instances: [Instance]

        enum CodingKeys: String, CodingKey {
            case groupName = "group_name"
            case instances
        }
    }

    /// One instance of a group. `adb_port` is there only in active states.
    public struct Instance: Decodable, Sendable {
        public var instanceName: String
        public var status: Status
        public var adbPort: Int?
        public var instanceDir: String
        /// `cvd status failed` when the launcher did not answer.
        public var warning: String?

        enum CodingKeys: String, CodingKey {
            case instanceName = "instance_name"
            case status
            case adbPort = "adb_port"
            case instanceDir = "instance_dir"
            case warning
        }

        /// The host-wide instance number, from its directory: `…/instances/cvd-<id>`, or
        /// `…/cuttlefish_runtime.<id>` before the first launch (the JSON has no id field).
        public var id: Int? {
            let last = instanceDir.split(separator: "/").last.map(String.init) ?? ""
            if last.hasPrefix("cvd-") { return Int(last.dropFirst(4)) }
            if let dot = last.lastIndex(of: "."), last.hasPrefix("cuttlefish_runtime") { return Int(last[last.index(after: dot)...]) }
            return nil
        }

        /// Where the instance's disks live once launched: before the first launch cvd prints
        /// the legacy `home/cuttlefish_runtime.<id>`, but launches into `…/instances/cvd-<id>`.
        public var diskDirectory: String {
            guard let base = baseDirectory, let id, !instanceDir.hasSuffix("/cvd-\(id)") else { return instanceDir }
            return "\(base)/home/cuttlefish/instances/cvd-\(id)"
        }

        /// The group's base directory (`/var/tmp/cvd/<uid>/<ns>`), whose `home` names the HOME it was made with.
        var baseDirectory: String? {
            instanceDir.range(of: "/home/cuttlefish").map { String(instanceDir[..<$0.lowerBound]) }
        }
    }

    /// An instance's state as cvd prints it (enum name, Title Case). There is no "Suspended":
    /// cvd's database does not change on suspend.
    public enum Status: Hashable, Sendable, Decodable, CustomStringConvertible {
        case unspecified, preparing, starting, running, stopping, stopped, prepareFailed, bootFailed, unreachable, cancelled
        case unknown(String)

        public init(raw: String) {
            switch raw {
            case "Unspecified": self = .unspecified
            case "Preparing": self = .preparing
            case "Starting": self = .starting
            case "Running": self = .running
            case "Stopping": self = .stopping
            case "Stopped": self = .stopped
            case "Prepare Failed": self = .prepareFailed
            case "Boot Failed": self = .bootFailed
            case "Unreachable": self = .unreachable
            case "Cancelled": self = .cancelled
            default: self = .unknown(raw)
            }
        }

        public init(from decoder: Decoder) throws {
            self.init(raw: try decoder.singleValueContainer().decode(String.self))
        }

        /// States in which cvd holds processes for the instance (and `start` is refused).
        public var isActive: Bool { [.preparing, .starting, .running, .stopping, .unreachable].contains(self) }

        public var description: String {
            switch self {
            case .unspecified: "Unspecified"
            case .preparing: "Preparing"
            case .starting: "Starting"
            case .running: "Running"
            case .stopping: "Stopping"
            case .stopped: "Stopped"
            case .prepareFailed: "Prepare Failed"
            case .bootFailed: "Boot Failed"
            case .unreachable: "Unreachable"
            case .cancelled: "Cancelled"
            case .unknown(let raw): raw
            }
        }
    }
}
