import Foundation
import Reconciler
import Resources

/// Short constructors for resources in tests.
public enum Build {
    public static func sandbox(_ name: String, image: String = "u", state: PowerState = .running, cpus: Int? = 2,
                               memory: Quantity? = .gibibytes(2), disk: Quantity? = .gibibytes(20), limits: ResourceLimits? = nil,
                               source: SandboxSource? = nil, pool: String? = nil, policy: String? = nil) -> Resource {
        Resource(name: name, body: .sandbox(SandboxSpec(state: state, cpus: cpus, memory: memory, disk: disk, limits: limits,
                                                        source: source ?? .image(image), networkPool: pool, balloonPolicy: policy)),
                 origin: Origin(file: "\(name).yaml", mark: .start))
    }

    public static func pool(_ name: String, size: Int = 2, subnet: String = "10.0.0.0/16") -> Resource {
        Resource(name: name, body: .tapPool(TapPoolSpec(size: size, subnet: IPv4CIDR(parsing: subnet)!,
                                                        guestGateway: IPv4CIDR(parsing: "192.168.0.1/24")!,
                                                        guestAddress: IPv4Address(parsing: "192.168.0.2")!)),
                 origin: Origin(file: "pools.yaml", mark: .start))
    }

    public static func policy(_ name: String, buffer: Quantity = .gibibytes(2)) -> Resource {
        Resource(name: name, body: .balloonPolicy(BalloonPolicySpec(buffer: buffer)), origin: Origin(file: "policies.yaml", mark: .start))
    }

    public static func snapshot(_ name: String, of sandbox: String) -> Resource {
        Resource(name: name, body: .snapshot(SnapshotSpec(source: .sandbox(sandbox))), origin: Origin(file: "snaps.yaml", mark: .start))
    }

    public static func desired(_ resources: [Resource]) -> [ResourceID: Resource] {
        Dictionary(uniqueKeysWithValues: resources.map { ($0.id, $0) })
    }

    /// A sandbox as observed after being built from `resource`'s spec.
    public static func observed(_ resource: Resource, vm: VMState = .running, defaults: HostDefaults = HostDefaults()) -> ObservedSandbox {
        let spec = resource.sandbox!
        return ObservedSandbox(name: resource.name, config: SandboxConfig(resolving: spec, defaults: defaults),
                               intendedState: spec.state, vm: vm, process: vm == .absent ? nil : ProcessIdentity(pid: 42, startTime: 7))
    }

    /// A spec set as the loader would produce it from `resources`, all valid.
    public static func specSet(_ resources: [Resource], directory: String = "specs") -> SpecSet {
        SpecSet(directory: directory, resources: desired(resources), diagnostics: [], invalidFiles: [],
                declaredInInvalidFiles: [], fileCount: resources.count, sources: [:])
    }
}

/// A temporary directory removed with the value.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ prefix: String = "converge") {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
