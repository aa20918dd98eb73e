import Foundation

/// What `converge run` last observed about one resource: the status file it writes after
/// every pass (STATE/status/KIND/NAME.json). The bridge only reads these files.
public struct StatusRow: Decodable, Sendable, Equatable {
    public struct Condition: Decodable, Sendable, Equatable {
        public var type: String
        public var status: String
        public var reason: String
        public var message: String
        public var observedGeneration: Int
    }
    public var kind: String
    public var name: String
    /// The generation of the last good spec the reconciler recorded; nil when no spec names it.
    public var generation: Int?
    public var desiredState: String?
    public var observedState: String?
    public var cpus: Int?
    public var memory: String?
    public var disk: String?
    public var applied: Bool
    public var ready: String
    public var reason: String
    public var sizeOnDiskBytes: Int64?
    public var conditions: [Condition]

    /// The Degraded condition when it is true for the spec generation this row shows.
    public var degradation: Condition? {
        conditions.first { $0.type == "Degraded" && $0.status == "True" && (generation == nil || $0.observedGeneration == generation) }
    }
}

/// Reads the status files of a state directory.
public struct ObservedStatus: Sendable {
    public let stateDirectory: String

    public init(stateDirectory: String) { self.stateDirectory = stateDirectory }

    /// The row of `kind`/`name`; nil when the file is absent (never observed, or gone).
    public func row(_ kind: String, _ name: String) -> StatusRow? {
        guard let data = FileManager.default.contents(atPath: "\(stateDirectory)/status/\(kind)/\(name).json") else { return nil }
        return try? JSONDecoder().decode(StatusRow.self, from: data)
    }

    /// Every row of `kind`.
    public func rows(_ kind: String) -> [StatusRow] {
        let dir = "\(stateDirectory)/status/\(kind)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.compactMap {
            FileManager.default.contents(atPath: "\(dir)/\($0)").flatMap { try? JSONDecoder().decode(StatusRow.self, from: $0) }
        }
    }

    /// Seconds since `converge run` last finished a pass (its metrics file), nil if never.
    public func secondsSinceLastPass() -> Double? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: "\(stateDirectory)/metrics/converge.prom"),
              let modified = attributes[.modificationDate] as? Date else { return nil }
        return Date().timeIntervalSince(modified)
    }
}
