/// Checks that need the whole directory: unique names per kind, references that
/// resolve, pools that do not overlap, and no fork or snapshot cycles.
enum CrossValidator {
    /// References to where a clone came from: needed to make it, not to keep it. A fork's
    /// parent, a restored sandbox's snapshot and a Snapshot's source sandbox may leave the
    /// specs once the clone exists (deleting a parent never breaks a child: its disk is kept
    /// while anything is built on it); the plan refuses to make a clone without its origin.
    static let origins: Set<String> = ["spec.source.fork", "spec.source.snapshot", "spec.source.sandbox"]

    /// - Parameter undecoded: resources named by documents that did not decode; with
    ///   `decoded`, every resource the directory declares, valid or not.
    /// - Returns: the diagnostics, and the position in `decoded` of each identity's first resource.
    static func validate(_ decoded: [DecodedResource], undecoded: Set<ResourceID>) -> (diagnostics: [Diagnostic], first: [ResourceID: Int]) {
        var diagnostics: [Diagnostic] = []
        // Indices, not copies: ten thousand resources pass through here on every cold load.
        var first: [ResourceID: Int] = [:]
        first.reserveCapacity(decoded.count)
        var duplicates: Set<Int> = []
        for i in decoded.indices {
            let id = decoded[i].resource.id
            if let earlier = first[id] {
                duplicates.insert(i)
                diagnostics.append(Diagnostic(
                    file: decoded[i].resource.origin.file, mark: decoded[i].nameMark,
                    message: "\(id.kind.rawValue) '\(id.name)' is already defined at \(decoded[earlier].resource.origin.file):\(decoded[earlier].nameMark); names must be unique within a kind"))
            } else {
                first[id] = i
            }
        }
        let unique = duplicates.isEmpty ? decoded : decoded.indices.filter { !duplicates.contains($0) }.map { decoded[$0] }
        // Thousands of sandboxes name the same few pools and policies: each name found is
        // remembered, so it is looked up once.
        var found: [ResourceID] = []
        for i in unique.indices {
            let id = unique[i].resource.id
            for ref in unique[i].references {
                if ref.id == id {
                    diagnostics.append(Diagnostic(file: unique[i].resource.origin.file, mark: ref.mark, message: "\(ref.field) names this \(ref.id.kind.rawValue) itself"))
                } else if found.contains(ref.id) {
                    continue
                } else if first[ref.id] != nil || undecoded.contains(ref.id) {
                    if found.count < 8 { found.append(ref.id) }
                } else if !Self.origins.contains(ref.field) {
                    let candidates = undecoded.union(first.keys).filter { $0.kind == ref.id.kind }.map(\.name).sorted()
                    let hint = candidates.isEmpty ? "no \(ref.id.kind.rawValue) is defined" : "defined: \(candidates.prefix(5).joined(separator: ", "))"
                    diagnostics.append(Diagnostic(file: unique[i].resource.origin.file, mark: ref.mark,
                                                  message: "\(ref.field) names \(ref.id.kind.rawValue) '\(ref.id.name)', which is not defined (\(hint))"))
                }
            }
        }
        diagnostics += overlappingPools(unique)
        diagnostics += unsavableMemory(unique)
        diagnostics += cycles(unique)
        return (diagnostics, first)
    }

    private static func overlappingPools(_ decoded: [DecodedResource]) -> [Diagnostic] {
        var result: [Diagnostic] = []
        var seen: [(name: String, subnet: IPv4CIDR)] = []
        for i in decoded.indices {
            guard let pool = decoded[i].resource.tapPool else { continue }
            let d = decoded[i]
            if let other = seen.first(where: { $0.subnet.overlaps(pool.subnet) }) {
                result.append(Diagnostic(file: d.resource.origin.file, mark: d.subnetMark ?? d.nameMark,
                                         message: "spec.subnet \(pool.subnet) overlaps TapPool '\(other.name)' (\(other.subnet)); pools must not share addresses"))
            }
            seen.append((d.resource.name, pool.subnet))
        }
        return result
    }

    /// A sandbox forked from itself through a chain, or restored from a snapshot of itself.
    private static func cycles(_ decoded: [DecodedResource]) -> [Diagnostic] {
        var edges: [ResourceID: (ResourceID, Mark, DecodedResource)] = [:]
        for i in decoded.indices {
            for ref in decoded[i].references where ref.id.kind == .sandbox || ref.id.kind == .snapshot {
                edges[decoded[i].resource.id] = (ref.id, ref.mark, decoded[i])
            }
        }
        var result: [Diagnostic] = []
        var reported: Set<ResourceID> = []
        for start in edges.keys.sorted() {
            var path: [ResourceID] = [start]
            var current = start
            while let (next, _, _) = edges[current], !path.contains(next) {
                path.append(next)
                current = next
            }
            if let (next, mark, d) = edges[current], next == start, !reported.contains(start) {
                reported.formUnion(path)
                let chain = (path + [start]).map(\.description).joined(separator: " → ")
                result.append(Diagnostic(file: d.resource.origin.file, mark: mark, message: "dependency cycle: \(chain)"))
            }
        }
        return result
    }
}

extension CrossValidator {
    /// A Snapshot that states `memory: true` of a sandbox whose runtime saves memory only
    /// from a device launched for it, when that sandbox's spec does not ask for such a launch.
    /// (Left unstated, such a snapshot is taken disk-only.)
    static func unsavableMemory(_ decoded: [DecodedResource]) -> [Diagnostic] {
        // The sandboxes such snapshots name, and only those: most directories have none.
        var sources: Set<String> = []
        for i in decoded.indices {
            if case .snapshot(let spec) = decoded[i].resource.body, spec.memory, decoded[i].memoryMark != nil, case .sandbox(let source) = spec.source { sources.insert(source) }
        }
        guard !sources.isEmpty else { return [] }
        var sandboxes: [String: SandboxSpec] = [:]
        for d in decoded where sources.contains(d.resource.name) {
            if case .sandbox(let spec) = d.resource.body { sandboxes[d.resource.name] = spec }
        }
        return decoded.compactMap { d in
            guard case .snapshot(let spec) = d.resource.body, spec.memory, let mark = d.memoryMark,
                  case .sandbox(let source) = spec.source, let sandbox = sandboxes[source],
                  SandboxRules.needsSnapshotCompatibleLaunch(sandbox.runtime), sandbox.snapshotCompatible != true else { return nil }
            return Diagnostic(file: d.resource.origin.file, mark: mark,
                              message: "spec.memory: true needs sandbox \(source) to set spec.snapshotCompatible: true: a \(sandbox.runtime.rawValue) device's memory can be saved only when it was launched without virtio-fs, GPU acceleration and USB; set memory: false for a disk-only snapshot")
        }
    }
}
