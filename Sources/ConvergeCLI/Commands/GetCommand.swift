import Reconciler
import Resources

/// `converge get KIND [NAME]`: desired (last good spec) against observed, with conditions.
struct GetCommand: Command {
    static let name = "get"
    static let abstract = "list resources of a kind: desired vs observed, conditions"
    static let arguments = "sandboxes|snapshots|tappools|balloonpolicies [NAME]"

    var global: GlobalOptions
    var kind: ResourceKind
    var resourceName: String?

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        let words = try arguments.positionals(min: 1, max: 2, usage: Self.usage)
        guard let kind = ResourceKind(argument: words[0]) else {
            throw UsageError("unknown kind '\(words[0])'\nusage: \(Self.usage)")
        }
        self.kind = kind
        resourceName = words.count > 1 ? words[1] : nil
    }

    func run() async throws {
        let wiring = try Wiring(global, access: .read)
        let rows = try await StatusRows.collect(wiring, kinds: [kind]).filter { resourceName == nil || $0.name == resourceName }
        if let resourceName, rows.isEmpty {
            throw CLIError("\(kind.rawValue) '\(resourceName)' is neither in the last applied specs nor on the host")
        }
        if global.json {
            try Output.json(rows)
        } else if kind == .snapshot {
            Output.table(["NAME", "MEMORY", "SIZE", "SOURCE", "USED BY", "REGISTRY", "READY", "REASON"], rows.map {
                [$0.name, $0.memorySaved.map { $0 ? "yes" : "no" } ?? "-", $0.sizeOnDiskBytes.map { Quantity(bytes: $0).description } ?? "-",
                 $0.source ?? "-", $0.usedBy.map { $0.isEmpty ? "-" : $0.joined(separator: ",") } ?? "-",
                 $0.registry?.summary(bytes: ByteUnits.human) ?? "-", $0.ready, $0.reason]
            })
        } else if kind == .sandbox {
            Output.table(["NAME", "RUNTIME", "DESIRED", "OBSERVED", "CPUS", "MEMORY", "BALLOON", "DISK", "ADDRESS", "PID", "READY", "REASON"], rows.map {
                [$0.name, $0.runtime ?? "-", $0.desiredState ?? "-",
                 ($0.observedState ?? "-") + ($0.savedMemoryBytes.map { " (\(Quantity(bytes: $0)) saved)" } ?? ""), $0.cpus.map(String.init) ?? "-",
                 $0.memory ?? "-", $0.balloon.map { $0.unavailable == nil ? $0.size : "\($0.size) (guest silent)" } ?? "-", $0.disk ?? "-",
                 $0.address ?? "-", $0.pid.map(String.init) ?? "-", $0.ready, $0.reason]
            })
        } else {
            Output.table(["NAME", "DESIRED", "APPLIED", "READY", "REASON"], rows.map {
                [$0.name, $0.summary ?? "-", $0.applied ? "yes" : "no", $0.ready, $0.reason]
            })
        }
    }
}

/// One resource as `get` and `status` show it.
struct StatusRow: Encodable, Equatable {
    struct ConditionJSON: Encodable, Equatable {
        var type: String
        var status: String
        var reason: String
        var message: String
        var observedGeneration: Int
        var lastTransitionTime: Double
    }
    var kind: String
    var name: String
    var generation: Int?
    var file: String?
    var runtime: String?
    var desiredState: String?
    var observedState: String?
    var cpus: Int?
    var memory: String?
    var disk: String?
    var pid: Int32?
    /// Where the host reaches the sandbox (its slot address), and the namespace it runs in.
    var address: String?
    var namespace: String?
    /// The device a runtime allocated itself (Cuttlefish: cvd group, instance id, adb serial).
    var device: DeviceInstance?
    /// The balloon (memory taken back from the guest) and what the guest said it uses.
    var balloon: BalloonJSON?
    /// Bytes of memory state a suspended sandbox keeps on disk; what a clone is a clone of.
    var savedMemoryBytes: Int64?
    var cloneOf: String?
    /// Snapshots: whether memory is kept, bytes on disk, its source, and who is built on it.
    var memorySaved: Bool?
    var sizeOnDiskBytes: Int64?
    var source: String?
    var usedBy: [String]?
    /// Its copy in the registry: pushed, pulling with bytes, or failed with the reason.
    var registry: RegistryRecord?
    var applied: Bool
    var summary: String?
    var ready: String
    var reason: String
    var conditions: [ConditionJSON]
}

/// A sandbox's balloon in `get --json` and the status files.
struct BalloonJSON: Encodable, Equatable {
    var policy: String?
    var allocated: String
    var size: String
    var sizeBytes: Int64
    /// The size last asked; the guest's driver reaches it page by page, so it can differ
    /// from `sizeBytes` for a while.
    var targetBytes: Int64
    var guestUsedBytes: Int64?
    /// Why the guest's use is unknown although a policy wants it.
    var unavailable: String?

    init(policy: String?, _ b: ObservedBalloon) {
        self.policy = policy
        allocated = b.allocated.description
        size = b.size.description
        sizeBytes = b.size.bytes
        targetBytes = (b.target ?? b.size).bytes
        guestUsedBytes = b.guestUsed?.bytes
        unavailable = b.unavailable
    }
}

enum StatusRows {
    /// What no spec names says why it is still here (held prunes, the prune guard), or
    /// just that; a stale "Converged" from when it was wanted says nothing.
    static func unnamedReason(_ ready: Condition?) -> String {
        guard let ready, !ready.status, ready.reason != "Converged" else { return "NotInSpecs" }
        return ready.reason
    }

    static func collect(_ wiring: Wiring, kinds: [ResourceKind], observed known: ObservedState? = nil) async throws -> [StatusRow] {
        let specs = try await wiring.store.lastGoodSpecs()
        let observed: ObservedState
        if let known { observed = known } else { observed = try await wiring.reconciler.observe() }
        let conditions = try await wiring.store.conditions()
        let pending = Readiness.pending(specs: specs, observed: observed, defaults: wiring.defaults,
                                        capabilities: wiring.reconciler.capabilities)
        var rows: [StatusRow] = []
        for kind in kinds {
            var names = Set(specs.keys.filter { $0.kind == kind }.map(\.name))
            switch kind {
            case .sandbox: names.formUnion(observed.sandboxes.keys)
            case .tapPool: names.formUnion(observed.pools.keys)
            case .balloonPolicy: names.formUnion(observed.policies.keys)
            case .snapshot: names.formUnion(observed.snapshots.keys)
            }
            for name in names.sorted() {
                let id = ResourceID(kind, name)
                let spec = specs[id]
                let conds = conditions[id] ?? []
                let ready = conds.first { $0.type == "Ready" }
                var row = StatusRow(kind: kind.rawValue, name: name, generation: spec?.generation, file: spec?.resource.origin.file,
                                    applied: false, ready: ready.map { $0.status ? "True" : "False" } ?? "Unknown",
                                    reason: spec == nil ? Self.unnamedReason(ready) : (ready?.reason ?? "NotApplied"),
                                    conditions: conds.map {
                                        .init(type: $0.type, status: $0.status ? "True" : "False", reason: $0.reason, message: $0.message,
                                              observedGeneration: $0.observedGeneration, lastTransitionTime: $0.changedAt)
                                    })
                switch kind {
                case .sandbox:
                    let o = observed.sandboxes[name]
                    let s = spec?.resource.sandbox
                    row.runtime = (s?.runtime ?? o?.config.runtime)?.rawValue
                    row.desiredState = s?.state.rawValue
                    row.observedState = o.map { $0.powerState?.rawValue ?? $0.vm.description } ?? "absent"
                    row.cpus = o?.liveCpus ?? o?.config.cpus
                    row.memory = (o?.config.memory).map(\.description)
                    row.disk = (o?.config.disk).map(\.description)
                    row.pid = o?.process?.pid
                    row.address = o?.slot?.slotAddress ?? o?.device?.serial
                    row.device = o?.device
                    row.namespace = o?.slot?.namespace
                    row.balloon = o.flatMap { o in o.balloon.map { BalloonJSON(policy: o.config.balloonPolicy, $0) } }
                    row.savedMemoryBytes = o?.savedMemory?.bytes
                    row.cloneOf = o?.cloneOf
                    row.applied = o != nil
                case .tapPool:
                    row.applied = observed.pools[name] != nil
                    if let p = spec?.resource.tapPool {
                        let o = observed.pools[name]
                        row.summary = "size \(p.size), \(p.subnet); \(o?.ready ?? 0) ready, \(o?.claimed ?? 0) claimed" + ((o?.broken ?? 0) > 0 ? ", \(o!.broken) broken" : "")
                    }
                case .balloonPolicy:
                    row.applied = observed.policies[name] != nil
                    if let p = spec?.resource.balloonPolicy { row.summary = "every \(p.interval), buffer \(p.buffer)" }
                case .snapshot:
                    let o = observed.snapshots[name]
                    row.applied = o != nil
                    let source = spec?.resource.snapshot?.source ?? o?.spec.source
                    row.source = source?.description
                    row.summary = row.source
                    row.memorySaved = o?.hasMemory
                    row.sizeOnDiskBytes = o?.sizeOnDisk
                    row.usedBy = o.map { _ in observed.users(ofSnapshot: name).map(\.description) }
                    row.registry = o?.registry ?? observed.pulls[name]
                }
                if spec != nil { Readiness.correct(&row, pending: pending[id]) }
                rows.append(row)
            }
        }
        return rows
    }
}
