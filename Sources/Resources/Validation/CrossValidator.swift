/// Checks that need the whole directory: unique names per kind, references that
/// resolve, pools that do not overlap, and no fork or snapshot cycles.
enum CrossValidator {
    /// References to where a clone came from: needed to make it, not to keep it. A fork's
    /// parent, a restored sandbox's snapshot and a Snapshot's source sandbox may leave the
    /// specs once the clone exists (deleting a parent never breaks a child: its disk is kept
    /// while anything is built on it); the plan refuses to make a clone without its origin.
    static let origins: Set<String> = ["spec.source.fork", "spec.source.snapshot", "spec.source.sandbox"]

    static func validate(_ decoded: [DecodedResource], declared: Set<ResourceID>) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        // Indices, not copies: ten thousand resources pass through here on every cold load.
        var first: [ResourceID: Int] = [:]
        first.reserveCapacity(decoded.count)
        var duplicates: Set<Int> = []
        for (i, d) in decoded.enumerated() {
            if let earlier = first[d.resource.id].map({ decoded[$0] }) {
                duplicates.insert(i)
                diagnostics.append(Diagnostic(
                    file: d.resource.origin.file, mark: d.nameMark,
                    message: "\(d.resource.id.kind.rawValue) '\(d.resource.name)' is already defined at \(earlier.resource.origin.file):\(earlier.nameMark); names must be unique within a kind"))
            } else {
                first[d.resource.id] = i
            }
        }
        let unique = duplicates.isEmpty ? decoded : decoded.enumerated().filter { !duplicates.contains($0.offset) }.map(\.element)
        let known = declared.union(first.keys)
        for d in unique {
            for ref in d.references {
                if ref.id == d.resource.id {
                    diagnostics.append(Diagnostic(file: d.resource.origin.file, mark: ref.mark, message: "\(ref.field) names this \(ref.id.kind.rawValue) itself"))
                } else if !known.contains(ref.id) && !Self.origins.contains(ref.field) {
                    let candidates = known.filter { $0.kind == ref.id.kind }.map(\.name).sorted()
                    let hint = candidates.isEmpty ? "no \(ref.id.kind.rawValue) is defined" : "defined: \(candidates.prefix(5).joined(separator: ", "))"
                    diagnostics.append(Diagnostic(file: d.resource.origin.file, mark: ref.mark,
                                                  message: "\(ref.field) names \(ref.id.kind.rawValue) '\(ref.id.name)', which is not defined (\(hint))"))
                }
            }
        }
        diagnostics += overlappingPools(unique)
        diagnostics += unsavableMemory(unique)
        diagnostics += cycles(unique)
        return diagnostics
    }

    private static func overlappingPools(_ decoded: [DecodedResource]) -> [Diagnostic] {
        var result: [Diagnostic] = []
        var seen: [(name: String, subnet: IPv4CIDR)] = []
        for d in decoded {
            guard let pool = d.resource.tapPool else { continue }
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
        for d in decoded {
            for ref in d.references where ref.id.kind == .sandbox || ref.id.kind == .snapshot {
                edges[d.resource.id] = (ref.id, ref.mark, d)
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
        for d in decoded {
            if case .snapshot(let spec) = d.resource.body, spec.memory, d.memoryMark != nil, case .sandbox(let source) = spec.source { sources.insert(source) }
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
