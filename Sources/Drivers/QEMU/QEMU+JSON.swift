import Foundation

extension QEMU {
    /// A JSON value as QMP sends it: what `execute` returns when no typed helper fits.
    /// Integers stay integers: QMP's `uint64` statistics use 2^64-1 for "not available"
    /// (balloon `guest-stats` before the guest reports), which only `.uint` holds exactly.
    public enum JSON: Sendable, Hashable, Codable, CustomStringConvertible {
        case null
        case bool(Bool)
        case int(Int64)
        /// Only for integers above `Int64.max`.
        case uint(UInt64)
        case double(Double)
        case string(String)
        case array([JSON])
        case object([String: JSON])

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode(Int64.self) { self = .int(v) }
            else if let v = try? c.decode(UInt64.self) { self = .uint(v) }
            else if let v = try? c.decode(Double.self) { self = .double(v) }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else if let v = try? c.decode([JSON].self) { self = .array(v) }
            else { self = .object(try c.decode([String: JSON].self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let v): try c.encode(v)
            case .int(let v): try c.encode(v)
            case .uint(let v): try c.encode(v)
            case .double(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            case .array(let v): try c.encode(v)
            case .object(let v): try c.encode(v)
            }
        }

        /// The member `key` of an object; nil for a missing key or a non-object.
        public subscript(key: String) -> JSON? {
            if case .object(let members) = self { return members[key] }
            return nil
        }

        public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
        /// The value as a signed integer; nil for non-integers and for `.uint`.
        public var intValue: Int64? {
            switch self {
            case .int(let v): v
            case .double(let v): v.rounded() == v ? Int64(exactly: v) : nil
            default: nil
            }
        }
        /// The value as an unsigned integer (2^64-1 is QMP's "not available").
        public var uintValue: UInt64? {
            switch self {
            case .int(let v): UInt64(exactly: v)
            case .uint(let v): v
            default: nil
            }
        }
        public var objectValue: [String: JSON]? { if case .object(let v) = self { v } else { nil } }

        public var description: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "<unencodable>"
        }
    }

    /// An asynchronous QMP event (`{"event", "data", "timestamp"}`), kept in arrival order.
    public struct QMPEvent: Sendable, Hashable {
        /// Upstream name, e.g. `STOP`, `RESUME`, `SHUTDOWN`, `BALLOON_CHANGE`, `MIGRATION`.
        public var name: String
        /// The event's `data` member (`.null` when absent, as for `STOP`).
        public var data: JSON
        /// QEMU's wall-clock `timestamp` (`seconds` + `microseconds`), in seconds since the epoch.
        public var timestamp: Double
    }

    /// The `QMP` member of the greeting.
    public struct QMPGreeting: Sendable, Hashable {
        /// `version.qemu` as `major.minor.micro`, e.g. `7.2.22`.
        public var version: String
        /// `version.package`, e.g. `Debian 1:7.2+dfsg-7+deb12u18+b3`.
        public var package: String
        /// Capabilities QEMU offers (`oob`); none are enabled by the client.
        public var capabilities: [String]
    }
}
