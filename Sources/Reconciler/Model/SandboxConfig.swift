import Resources

/// Host-wide defaults for what a sandbox spec leaves out (CONTRACT §3: CH_DEFAULT_*, and a
/// runtime's own such as CVD_DEFAULT_*).
public struct HostDefaults: Sendable, Equatable {
    public var cpus: Int
    public var memory: Quantity
    public var disk: Quantity
    /// vCPUs and memory of one runtime where they differ from the host-wide ones.
    public var perRuntime: [Runtime: Shape] = [:]

    public struct Shape: Sendable, Equatable {
        public var cpus: Int
        public var memory: Quantity
        public init(cpus: Int, memory: Quantity) {
            self.cpus = cpus
            self.memory = memory
        }
    }

    public init(cpus: Int = 2, memory: Quantity = .gibibytes(2), disk: Quantity = .gibibytes(20)) {
        self.cpus = cpus
        self.memory = memory
        self.disk = disk
    }

    public func cpus(for runtime: Runtime) -> Int { perRuntime[runtime]?.cpus ?? cpus }
    public func memory(for runtime: Runtime) -> Quantity { perRuntime[runtime]?.memory ?? memory }
}

/// A sandbox spec with every default filled in and the runtime's memory rounding applied: exactly what a
/// VM is built with. Drivers record it beside the VM, so observation can tell what a
/// running VM was built from, even after the database is lost.
public struct SandboxConfig: Hashable, Sendable, Codable {
    public var runtime: Runtime
    public var source: SandboxSource
    public var cpus: Int
    public var memory: Quantity
    public var disk: Quantity
    /// The spec's `limits`, kept to tell a changed ceiling from a resize within it.
    public var limits: ResourceLimits?
    /// Boot-time ceilings: `max_vcpus` and memory + hotplug room.
    public var maxCpus: Int
    public var maxMemory: Quantity
    /// The memory the VM booted with: hotplugged memory can be unplugged, this cannot (nil in
    /// records written before it was kept: read as `memory`).
    public var bootMemory: Quantity?
    public var networkPool: String?
    public var balloonPolicy: String?
    public var gpus: [String]
    /// Launched so that its memory can be saved (Cuttlefish's `--snapshot_compatible`); nil = no.
    public var snapshotCompatible: Bool?

    public init(runtime: Runtime, source: SandboxSource, cpus: Int, memory: Quantity, disk: Quantity, limits: ResourceLimits?,
                maxCpus: Int, maxMemory: Quantity, networkPool: String?, balloonPolicy: String?, gpus: [String]) {
        self.runtime = runtime
        self.source = source
        self.cpus = cpus
        self.memory = memory
        self.disk = disk
        self.limits = limits
        self.maxCpus = maxCpus
        self.maxMemory = maxMemory
        self.bootMemory = memory
        self.networkPool = networkPool
        self.balloonPolicy = balloonPolicy
        self.gpus = gpus
    }

    /// Resolves `spec` against the host defaults; memory is rounded up to the runtime's
    /// hotplug unit (`SandboxRules.memoryUnit`).
    public init(resolving spec: SandboxSpec, defaults: HostDefaults) {
        let unit = SandboxRules.memoryUnit(spec.runtime)
        let round: (Quantity) -> Quantity = { quantity in unit.map { quantity.roundedUp(to: $0) } ?? quantity }
        let cpus = spec.cpus ?? defaults.cpus(for: spec.runtime)
        let memory = round(spec.memory ?? defaults.memory(for: spec.runtime))
        self.init(runtime: spec.runtime, source: spec.source, cpus: cpus, memory: memory, disk: spec.disk ?? defaults.disk,
                  limits: spec.limits, maxCpus: max(cpus, spec.limits?.cpus ?? cpus),
                  maxMemory: max(memory, (spec.limits?.memory).map(round) ?? memory),
                  networkPool: spec.networkPool, balloonPolicy: spec.balloonPolicy, gpus: spec.gpus)
        snapshotCompatible = spec.snapshotCompatible
    }
}

extension SandboxConfig {
    /// This config at `other`'s shape (vCPUs, memory, their ceilings and boot size): what a
    /// VMM restoring `other`'s saved memory must be built with.
    public func shaped(like other: SandboxConfig) -> SandboxConfig {
        var config = self
        config.cpus = other.cpus
        config.memory = other.memory
        config.limits = other.limits
        config.maxCpus = other.maxCpus
        config.maxMemory = other.maxMemory
        config.bootMemory = other.bootMemory
        return config
    }
}
