import Foundation
import Resources

/// Wall-clock seconds since 1970, the unit of every timestamp in the store.
public enum Clock {
    public static var now: Double { Date().timeIntervalSince1970 }
}

/// The last good spec of a resource: what it freezes at when its file goes bad.
public struct StoredSpec: Sendable, Equatable {
    public var resource: Resource
    public var generation: Int
    public var hash: String
}

/// Something that happened to a resource, kept for `converge events`.
public struct Event: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable { case normal = "Normal", warning = "Warning" }
    public var at: Double
    public var id: ResourceID
    public var type: Severity
    public var reason: String
    public var message: String

    public init(at: Double = Clock.now, id: ResourceID, type: Severity, reason: String, message: String) {
        self.at = at
        self.id = id
        self.type = type
        self.reason = reason
        self.message = message
    }
}

/// A Kubernetes-style condition on a resource (`Ready`, `Progressing`, `Degraded`).
public struct Condition: Sendable, Equatable, Codable {
    public var type: String
    public var status: Bool
    public var reason: String
    public var message: String
    public var observedGeneration: Int
    public var changedAt: Double

    public init(type: String, status: Bool, reason: String, message: String, observedGeneration: Int, changedAt: Double = Clock.now) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        self.changedAt = changedAt
    }
}
