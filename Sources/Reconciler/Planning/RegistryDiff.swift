import Resources

/// A taken snapshot against its `spec.registry`: push it when the registry does not hold
/// it at `ORG/NAME` yet, or record a changed `prune`. A failed push is planned again
/// (the daemon's backoff spaces the attempts); what failed is in the record and the event.
enum RegistryDiff {
    static func actions(_ resource: Resource, _ spec: SnapshotSpec, _ observed: ObservedSnapshot) -> [Action] {
        let settings = spec.registry ?? RegistrySettings()
        let location = "\(settings.org)/\(resource.name)"
        let record = observed.registry
        let held = record.map { ($0.state == .pushed || $0.state == .pulled) && $0.location == location } ?? false
        if settings.push && !held {
            let reason: String
            switch record?.state {
            case .pushing?: reason = "push resumes at \(record!.bytesDone) of \(record!.bytesTotal) bytes (to \(location))"
            case .failed?: reason = "push again to \(location) (last: \(record!.reason ?? "failed"))"
            default: reason = "not in the registry at \(location)"
            }
            return [Action(resource.id, .push, reason: reason, changes: [Change("registry", from: record?.state.rawValue ?? "absent", to: "pushed")],
                           body: resource.body)]
        }
        // Only a copy this snapshot pushed is ever pruned: a pulled one belongs to its pusher.
        if held, record!.state == .pushed, record!.prune != settings.prune {
            return [Action(resource.id, .push, reason: "registry prune setting changed",
                           changes: [Change("registry.prune", from: "\(record!.prune)", to: "\(settings.prune)")], body: resource.body)]
        }
        return []
    }
}
