/// A decoded document plus the marks that cross-document validation points at.
struct DecodedResource {
    var resource: Resource
    var nameMark: Mark
    /// Marks of the fields that name another resource, by what they name.
    var references: [(id: ResourceID, mark: Mark, field: String)]
    /// Mark of a TapPool's subnet, for overlap errors.
    var subnetMark: Mark?
    /// Mark of a Snapshot's `memory: true` when the spec states it, for errors that depend
    /// on its source's runtime.
    var memoryMark: Mark?
}

/// Builds `Resource`s from YAML nodes by hand, so that every error carries a `Mark`
/// (Codable's errors only carry a coding path).
enum SpecDecoder {
    static let apiVersion = "converge.dev/v1"

    /// Decodes one document; nil when it has errors (they are in `context`).
    static func decode(_ document: Document, _ context: DecodeContext) -> DecodedResource? {
        guard var top = FieldReader(document.root, path: "", context) else { return nil }
        defer { top.finish(context) }
        let before = context.diagnostics.count

        if let node = top.take("apiVersion") {
            if let version = context.string(node, "apiVersion"), version != apiVersion {
                context.error(node.mark, "apiVersion must be \(apiVersion), found '\(version)'")
            }
        } else {
            context.error(top.keyMark("apiVersion") ?? top.mark, "apiVersion is required (\(apiVersion))")
        }
        guard let kindNode = top.take("kind") else {
            context.error(top.mark, "kind is required: one of \(ResourceKind.allCases.map(\.rawValue).joined(separator: ", "))")
            _ = top.take("metadata"); _ = top.take("spec")
            return nil
        }
        let kind = context.enumValue(kindNode, "kind", as: ResourceKind.self)
        let metaNode = top.take("metadata")
        let meta = metaNode.flatMap { metadata($0, kind: kind, context) }
        if metaNode == nil { context.error(top.keyMark("metadata") ?? top.mark, "metadata.name is required") }
        let specNode = top.take("spec")
        guard let kind, let specNode else {
            if kind != nil { context.error(top.mark, "spec is required") }
            return nil
        }
        var references: [(ResourceID, Mark, String)] = []
        var subnetMark: Mark?
        let body: ResourceBody?
        switch kind {
        case .sandbox:
            body = sandbox(specNode, context, &references).map(ResourceBody.sandbox)
        case .snapshot:
            body = snapshot(specNode, org: meta?.labels["org"], context, &references, &subnetMark).map(ResourceBody.snapshot)
        case .tapPool:
            body = tapPool(specNode, context, &subnetMark).map(ResourceBody.tapPool)
        case .balloonPolicy:
            body = balloonPolicy(specNode, context).map(ResourceBody.balloonPolicy)
        }
        guard let meta, let body, context.diagnostics.count == before else {
            // Backstop: a document is never dropped without saying why (a dropped document
            // would read as "deleted" and its resource would be destroyed).
            if context.diagnostics.count == before {
                context.error(document.root.mark, "this \(kind.rawValue) could not be read; check its required fields")
            }
            return nil
        }
        let resource = Resource(name: meta.name, labels: meta.labels, body: body,
                                origin: Origin(file: context.file, mark: document.root.mark))
        return DecodedResource(resource: resource, nameMark: meta.mark,
                               references: references.map { (id: $0.0, mark: $0.1, field: $0.2) },
                               subnetMark: kind == .tapPool ? subnetMark : nil, memoryMark: kind == .snapshot ? subnetMark : nil)
    }

    // MARK: - Sandbox

    private static func sandbox(_ node: Node, _ context: DecodeContext, _ refs: inout [(ResourceID, Mark, String)]) -> SandboxSpec? {
        guard var f = FieldReader(node, path: "spec", context) else { return nil }
        defer { f.finish(context) }
        let before = context.diagnostics.count
        let runtime = f.take("runtime").map { context.enumValue($0, "spec.runtime", as: Runtime.self) } ?? .cloudHypervisor
        let stateNode = f.take("state")
        let state = stateNode.map { context.enumValue($0, "spec.state", as: PowerState.self) } ?? .running
        let cpus = f.take("cpus").flatMap { context.int($0, "spec.cpus", in: 1...256) }
        var memory: Quantity?
        if let m = f.take("memory"), let q = context.quantity(m, "spec.memory") {
            let floor = runtime.map(SandboxRules.minimumMemory) ?? .mebibytes(128)
            if q < floor {
                context.error(m.mark, "spec.memory \(q) is below the minimum of \(floor) for \(runtime?.rawValue ?? "this runtime")")
            } else if q > SandboxRules.maximumMemory {
                context.error(m.mark, "spec.memory \(q) is above the maximum of \(SandboxRules.maximumMemory)")
            }
            memory = q
        }
        var disk: Quantity?
        if let d = f.take("disk"), let q = context.quantity(d, "spec.disk") {
            if q < SandboxRules.minimumDisk || q > SandboxRules.maximumDisk {
                context.error(d.mark, "spec.disk \(q) must be between \(SandboxRules.minimumDisk) and \(SandboxRules.maximumDisk)")
            }
            disk = q
        }
        var limits: ResourceLimits?
        if let l = f.take("limits"), var lf = FieldReader(l, path: "spec.limits", context) {
            var value = ResourceLimits()
            if let c = lf.take("cpus") {
                value.cpus = context.int(c, "spec.limits.cpus", in: 1...256)
                if let lc = value.cpus, let cpus, lc < cpus { context.error(c.mark, "spec.limits.cpus \(lc) is below spec.cpus \(cpus)") }
            }
            if let m = lf.take("memory") {
                value.memory = context.quantity(m, "spec.limits.memory")
                if let lm = value.memory, lm > SandboxRules.maximumMemory {
                    context.error(m.mark, "spec.limits.memory \(lm) is above the maximum of \(SandboxRules.maximumMemory)")
                }
                if let lm = value.memory, let memory, lm < memory { context.error(m.mark, "spec.limits.memory \(lm) is below spec.memory \(memory)") }
            }
            lf.finish(context)
            limits = value
        }
        let sourceNode = f.take("source")
        let source = sourceNode.flatMap { sandboxSource($0, context, &refs) }
        if sourceNode == nil { context.error(f.keyMark("source") ?? f.mark, "spec.source is required: exactly one of image, snapshot, fork") }
        var pool: String?
        if let n = f.take("network"), var nf = FieldReader(n, path: "spec.network", context) {
            if let p = nf.take("pool"), let name = reference(p, "spec.network.pool", context) {
                pool = name
                refs.append((ResourceID(.tapPool, name), p.mark, "spec.network.pool"))
            }
            nf.finish(context)
        }
        var policy: String?
        if let b = f.take("balloon"), var bf = FieldReader(b, path: "spec.balloon", context) {
            if let p = bf.take("policy"), let name = reference(p, "spec.balloon.policy", context) {
                policy = name
                refs.append((ResourceID(.balloonPolicy, name), p.mark, "spec.balloon.policy"))
            }
            bf.finish(context)
        }
        var gpus: [String] = []
        var seenGPUs: Set<String> = []
        if let d = f.take("devices"), var df = FieldReader(d, path: "spec.devices", context) {
            if let g = df.take("gpus") {
                if case .sequence(let items, _) = g {
                    for item in items {
                        guard let text = context.string(item, "spec.devices.gpus[]") else { continue }
                        if !SandboxRules.isPCIAddress(text) {
                            context.error(item.mark, "spec.devices.gpus: '\(text)' is not a PCI address (write e.g. 0000:41:00.0)")
                        } else if !seenGPUs.insert(text).inserted {
                            context.error(item.mark, "spec.devices.gpus: '\(text)' is listed twice")
                        }
                        gpus.append(text)
                    }
                    if !gpus.isEmpty, let runtime, !SandboxRules.supportsGPUs(runtime) {
                        context.error(g.mark, "spec.devices.gpus is not supported with runtime \(runtime.rawValue); use runtime cloud-hypervisor")
                    }
                } else {
                    context.error(g.mark, "spec.devices.gpus must be a sequence of PCI addresses, found \(g.shapeName)")
                }
            }
            df.finish(context)
        }
        let compatible = SandboxRules.snapshotCompatibility(f.take("snapshotCompatible"), runtime: runtime, state: state,
                                                            stateMark: stateNode?.mark ?? node.mark, context: context)
        if pool != nil, let runtime, !SandboxRules.usesTapPools(runtime) {
            context.error(node.mark, "spec.network.pool is not supported with runtime \(runtime.rawValue): each device uses the TAP interfaces its host provisions (cuttlefish-host-resources); remove spec.network")
        }
        guard context.diagnostics.count == before, let runtime, let state, let source else { return nil }
        return SandboxSpec(runtime: runtime, state: state, cpus: cpus, memory: memory, disk: disk, limits: limits,
                           source: source, networkPool: pool, balloonPolicy: policy, gpus: gpus, snapshotCompatible: compatible)
    }

    private static func sandboxSource(_ node: Node, _ context: DecodeContext, _ refs: inout [(ResourceID, Mark, String)]) -> SandboxSource? {
        guard var f = FieldReader(node, path: "spec.source", context) else { return nil }
        defer { f.finish(context) }
        let choices = ["image", "snapshot", "fork"]
        let given = choices.filter { f.keyMark($0) != nil }
        let image = f.take("image"), snapshot = f.take("snapshot"), fork = f.take("fork")
        guard given.count == 1 else {
            let mark = given.count > 1 ? f.keyMark(given[1])! : f.mark
            let what = given.count > 1 ? "sets \(given.joined(separator: " and "))" : "sets none of them"
            context.error(mark, "spec.source must set exactly one of image, snapshot, fork; it \(what)")
            return nil
        }
        if let image, let text = context.string(image, "spec.source.image") {
            if let problem = NameRules.imageProblem(text) {
                context.error(image.mark, "spec.source.image '\(text)' \(problem)")
                return nil
            }
            return .image(text)
        }
        if let snapshot, let name = reference(snapshot, "spec.source.snapshot", context, allowDots: true) {
            refs.append((ResourceID(.snapshot, name), snapshot.mark, "spec.source.snapshot"))
            return .snapshot(name)
        }
        if let fork, let name = reference(fork, "spec.source.fork", context) {
            refs.append((ResourceID(.sandbox, name), fork.mark, "spec.source.fork"))
            return .fork(name)
        }
        if given.count == 1, image == nil, snapshot == nil, fork == nil {
            context.error(f.keyMark(given[0])!, "spec.source.\(given[0]) must not be empty")
        }
        return nil
    }

    private static func reference(_ node: Node, _ field: String, _ context: DecodeContext, allowDots: Bool = false) -> String? {
        guard let name = context.string(node, field) else { return nil }
        if let problem = NameRules.problem(with: name, allowDots: allowDots) {
            context.error(node.mark, "\(field) '\(name)' \(problem)")
            return nil
        }
        return name
    }

    // MARK: - Snapshot

    /// - Parameters:
    ///   - org: the label `org`, the registry's default folder for this snapshot.
    ///   - memoryMark: set to the mark of `memory: true` when the spec states it.
    private static func snapshot(_ node: Node, org: String?, _ context: DecodeContext, _ refs: inout [(ResourceID, Mark, String)],
                                 _ memoryMark: inout Mark?) -> SnapshotSpec? {
        guard var f = FieldReader(node, path: "spec", context) else { return nil }
        defer { f.finish(context) }
        let memoryNode = f.take("memory")
        let memory = memoryNode.map { context.bool($0, "spec.memory") } ?? true
        if memory == true { memoryMark = memoryNode?.mark }
        let registryNode = f.take("registry")
        let registry = registryNode.flatMap { registrySettings($0, org: org, context) }
        guard let s = f.take("source") else {
            context.error(f.mark, "spec.source is required: sandbox, path or registry")
            return nil
        }
        guard var sf = FieldReader(s, path: "spec.source", context) else { return nil }
        defer { sf.finish(context) }
        let given = [("sandbox", sf.take("sandbox")), ("path", sf.take("path")), ("registry", sf.take("registry"))]
            .compactMap { key, node in node.map { (key, $0) } }
        guard given.count == 1, let (key, node) = given.first else {
            let what = given.isEmpty ? "sets none" : "sets \(given.map(\.0).joined(separator: " and "))"
            context.error(given.last?.1.mark ?? sf.mark, "spec.source must set exactly one of sandbox, path, registry; it \(what)")
            return nil
        }
        guard let memory, registryNode == nil || registry != nil else { return nil }
        switch key {
        case "sandbox":
            guard let name = reference(node, "spec.source.sandbox", context) else { return nil }
            refs.append((ResourceID(.sandbox, name), node.mark, "spec.source.sandbox"))
            return SnapshotSpec(source: .sandbox(name), memory: memory, registry: registry)
        case "path":
            guard let text = context.string(node, "spec.source.path") else { return nil }
            guard text.hasPrefix("/"), !text.split(separator: "/").contains("..") else {
                context.error(node.mark, "spec.source.path must be an absolute path without '..', found '\(text)'")
                return nil
            }
            return SnapshotSpec(source: .path(text), memory: memory, registry: registry)
        default:
            guard let text = context.string(node, "spec.source.registry") else { return nil }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else {
                context.error(node.mark, "spec.source.registry must be ORG/NAME (the snapshot's folder in the bucket), found '\(text)'")
                return nil
            }
            if let problem = parts.lazy.compactMap({ NameRules.problem(with: $0, allowDots: true) }).first {
                context.error(node.mark, "spec.source.registry '\(text)': \(problem)")
                return nil
            }
            return SnapshotSpec(source: .registry(text), memory: memory, registry: registry)
        }
    }

    /// `spec.registry: {push, prune, org}`.
    private static func registrySettings(_ node: Node, org label: String?, _ context: DecodeContext) -> RegistrySettings? {
        guard var f = FieldReader(node, path: "spec.registry", context) else { return nil }
        defer { f.finish(context) }
        let before = context.diagnostics.count
        let push = f.take("push").flatMap { context.bool($0, "spec.registry.push") } ?? false
        let prune = f.take("prune").flatMap { context.bool($0, "spec.registry.prune") } ?? false
        var org = label ?? "default"
        if let node = f.take("org"), let text = context.string(node, "spec.registry.org") {
            if let problem = NameRules.problem(with: text, allowDots: true) {
                context.error(node.mark, "spec.registry.org '\(text)' \(problem)")
            }
            org = text
        } else if let label, let problem = NameRules.problem(with: label, allowDots: true) {
            context.error(node.mark, "the label org '\(label)' names the registry folder and \(problem); set spec.registry.org")
        }
        return context.diagnostics.count == before ? RegistrySettings(push: push, prune: prune, org: org) : nil
    }

    // MARK: - TapPool

    private static func tapPool(_ node: Node, _ context: DecodeContext, _ subnetMark: inout Mark?) -> TapPoolSpec? {
        guard var f = FieldReader(node, path: "spec", context) else { return nil }
        defer { f.finish(context) }
        let before = context.diagnostics.count
        let size = f.take("size").map { context.int($0, "spec.size", in: 0...1024) } ?? 0
        var subnet: IPv4CIDR?
        if let s = f.take("subnet"), let text = context.string(s, "spec.subnet") {
            subnetMark = s.mark
            if let c = IPv4CIDR(parsing: text) {
                if !c.isNetworkAddress {
                    context.error(s.mark, "spec.subnet \(text) has host bits set; did you mean \(c.network)/\(c.prefix)?")
                } else if c.prefix > 30 {
                    context.error(s.mark, "spec.subnet \(text) is too small: a slot needs a /30, so the prefix must be /30 or shorter")
                } else if let size, size > (1 << (30 - c.prefix)) {
                    context.error(s.mark, "spec.subnet \(text) holds \(1 << (30 - c.prefix)) slots of /30, fewer than spec.size \(size)")
                }
                subnet = c
            } else {
                context.error(s.mark, "spec.subnet '\(text)' is not an IPv4 CIDR (write e.g. 10.0.0.0/16)")
            }
        } else if subnet == nil && (f.keyMark("subnet") == nil || context.diagnostics.count == before) {
            context.error(f.keyMark("subnet") ?? f.mark, "spec.subnet is required (e.g. 10.0.0.0/16)")
        }
        var gateway: IPv4CIDR?, address: IPv4Address?
        if let g = f.take("guest") {
          if var gf = FieldReader(g, path: "spec.guest", context) {
            if let gw = gf.take("gateway"), let text = context.string(gw, "spec.guest.gateway") {
                gateway = IPv4CIDR(parsing: text)
                if gateway == nil || gateway!.prefix > 30 || gateway!.isNetworkAddress {
                    context.error(gw.mark, "spec.guest.gateway '\(text)' must be a host address with a prefix of /30 or shorter (e.g. 192.168.0.1/24)")
                    gateway = nil
                }
            } else if gateway == nil && (gf.keyMark("gateway") == nil || context.diagnostics.count == before) {
                context.error(gf.keyMark("gateway") ?? gf.mark, "spec.guest.gateway is required (e.g. 192.168.0.1/24)")
            }
            if let a = gf.take("address"), let text = context.string(a, "spec.guest.address") {
                address = IPv4Address(parsing: text)
                if address == nil {
                    context.error(a.mark, "spec.guest.address '\(text)' is not an IPv4 address")
                } else if let gateway, !gateway.contains(address!) || address == gateway.address || address == gateway.lastAddress {
                    context.error(a.mark, "spec.guest.address \(text) must be a host address in \(gateway.network)/\(gateway.prefix) other than the gateway")
                    address = nil
                }
            } else if address == nil && (gf.keyMark("address") == nil || context.diagnostics.count == before) {
                context.error(gf.keyMark("address") ?? gf.mark, "spec.guest.address is required (e.g. 192.168.0.2)")
            }
            gf.finish(context)
          }
        } else {
            context.error(f.keyMark("guest") ?? f.mark, "spec.guest is required: {gateway: 192.168.0.1/24, address: 192.168.0.2}")
        }
        let nat = f.take("nat").map { context.bool($0, "spec.nat") } ?? true
        guard context.diagnostics.count == before, let size, let subnet, let gateway, let address, let nat else { return nil }
        if let subnetMark, gateway.overlaps(subnet) {
            context.error(subnetMark, "spec.subnet \(subnet) overlaps the guest network \(gateway.network)/\(gateway.prefix)")
            return nil
        }
        return TapPoolSpec(size: size, subnet: subnet, guestGateway: gateway, guestAddress: address, nat: nat)
    }

    // MARK: - BalloonPolicy

    private static func balloonPolicy(_ node: Node, _ context: DecodeContext) -> BalloonPolicySpec? {
        guard var f = FieldReader(node, path: "spec", context) else { return nil }
        defer { f.finish(context) }
        let before = context.diagnostics.count
        var spec = BalloonPolicySpec()
        if let n = f.take("interval"), let d = context.duration(n, "spec.interval") {
            if d < .seconds(1) || d > .seconds(86_400) {
                context.error(n.mark, "spec.interval \(d) must be between 1s and 24h")
            }
            spec.interval = d
        }
        if let n = f.take("minVM"), let q = context.quantity(n, "spec.minVM") { spec.minVM = q }
        if let n = f.take("buffer"), let q = context.quantity(n, "spec.buffer") { spec.buffer = q }
        if let n = f.take("bufferRatio"), let r = context.double(n, "spec.bufferRatio", in: 0...10) { spec.bufferRatio = r }
        return context.diagnostics.count == before ? spec : nil
    }
}
