import Foundation
import Resources

/// What a pass aims at: the loaded specs, and the last good specs of files that do not load.
extension Reconciler {
    /// The specs to converge to, with the resources of invalid files frozen at their last good spec.
    public func desired(from specs: SpecSet) async throws -> DesiredState {
        let stored = try await store.specHeaders()
        var resources = specs.resources
        var frozen: [ResourceID] = []
        var unreadable: [StoredSpecUnreadable] = []
        let unloaded = stored.filter { id, header in
            resources[id] == nil && (specs.declaredInInvalidFiles.contains(id) || specs.invalidFiles.contains(header.file))
        }
        for id in unloaded.keys.sorted() {
            do {
                if let spec = try await store.lastGoodSpec(id) {
                    resources[id] = spec.resource
                    frozen.append(id)
                }
            } catch let error as StoredSpecUnreadable {
                unreadable.append(error)
            }
        }
        var generations = stored.mapValues(\.generation)
        var hashes: [ResourceID: String] = [:]
        var memo: [ResourceID: (resource: Resource, hash: String)] = [:]
        memo.reserveCapacity(specs.resources.count)
        for (id, resource) in specs.resources {
            let hash = hashed[id].flatMap { $0.resource == resource ? $0.hash : nil } ?? resource.contentHash
            hashes[id] = hash
            memo[id] = (resource, hash)
            if let header = stored[id], header.hash == hash { continue }
            generations[id] = (stored[id]?.generation ?? 0) + 1
        }
        hashed = memo
        return DesiredState(resources: resources, frozen: frozen.sorted(), generations: generations, unreadable: unreadable,
                            pruneHold: Self.pruneHold(specs, unreadable: unreadable), hashes: hashes, stored: stored)
    }

    /// While any spec file cannot be read, parsed or validated, what it declared is unknown,
    /// whatever the database holds (it may be new, or lost): nothing is destroyed.
    static func pruneHold(_ specs: SpecSet, unreadable: [StoredSpecUnreadable]) -> String? {
        if !specs.invalidFiles.isEmpty {
            let files = specs.invalidFiles.sorted()
            let named = files.prefix(3).joined(separator: ", ") + (files.count > 3 ? " and \(files.count - 3) more" : "")
            return "\(named) \(files.count == 1 ? "does" : "do") not load, so what \(files.count == 1 ? "it declares" : "they declare") is unknown; no resource is removed until every spec file loads (fix the errors above)"
        }
        if let first = unreadable.first {
            return "\(first); no resource is removed until it is readable or its file is fixed"
        }
        return nil
    }
}
