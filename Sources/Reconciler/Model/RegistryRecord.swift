/// Where a snapshot stands in the registry, as its transfer last recorded it (Converge's
/// `registry.json` beside the snapshot): what `get snapshots` shows and what the planner
/// compares with `spec.registry`.
public struct RegistryRecord: Hashable, Sendable, Codable {
    public enum State: String, Hashable, Sendable, Codable {
        case pushing, pushed, pulling, pulled, failed
    }

    public var state: State
    /// The snapshot's folder in the bucket: `ORG/NAME`.
    public var location: String
    /// The store it went to (endpoint and bucket; never a credential).
    public var store: String
    /// Delete the remote copy with the Snapshot (from `spec.registry.prune` at push).
    public var prune: Bool
    public var bytesDone: Int64
    public var bytesTotal: Int64
    /// Why the last transfer failed, phrased for the user.
    public var reason: String?
    /// What the failed transfer was doing: `push` or `pull`.
    public var failedDuring: String?
    public var updatedAt: Double

    public init(state: State, location: String, store: String, prune: Bool = false, bytesDone: Int64 = 0, bytesTotal: Int64 = 0,
                reason: String? = nil, failedDuring: String? = nil, updatedAt: Double) {
        self.state = state
        self.location = location
        self.store = store
        self.prune = prune
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.reason = reason
        self.failedDuring = failedDuring
        self.updatedAt = updatedAt
    }

    /// Whether the registry holds a complete copy at `location` in `store`.
    public func holds(_ location: String, in store: String) -> Bool {
        (state == .pushed || state == .pulled) && self.location == location && self.store == store
    }

    /// `pushed acme/golden`, `pulling 312Mi of 1Gi (30%)`, `failed push: …`, with bytes as
    /// `bytes` writes them.
    public func summary(bytes: (Int64) -> String) -> String {
        switch state {
        case .pushed, .pulled: return "\(state.rawValue) \(location)"
        case .pushing, .pulling:
            let percent = bytesTotal > 0 ? Int(Double(bytesDone) * 100 / Double(bytesTotal)) : 0
            return "\(state.rawValue) \(bytes(bytesDone)) of \(bytes(bytesTotal)) (\(percent)%)"
        case .failed: return "failed \(failedDuring ?? "transfer"): \(reason ?? "unknown reason")"
        }
    }
}
