import Foundation
import Resources

/// Turns a Daytona job into a `JobPlan`: pure, given the specs already in the directory.
struct JobTranslator: Sendable {
    /// The runtime of `linux-vm` sandboxes (host setting DAYTONA_LINUX_RUNTIME).
    var linuxRuntime: Runtime = .cloudHypervisor

    /// - Throws: `JobRefused` for unsupported types, bad payloads and ids that cannot be names.
    func plan(_ job: Daytona.Job, current specs: [ResourceID: Resource]) throws -> JobPlan {
        switch job.type {
        case .createSandbox:
            let dto = try payload(Daytona.CreateSandboxDTO.self, job)
            let name = try Self.sandboxName(job.resourceId)
            let spec = SandboxSpec(runtime: try runtime(dto.sandboxClass), state: dto.skipStart == true ? .stopped : .running,
                                   cpus: dto.cpuQuota.flatMap(Self.positive).map { Int($0) },
                                   memory: dto.memoryQuota.flatMap(Self.positive).map { Quantity.gibibytes($0) },
                                   disk: dto.storageQuota.flatMap(Self.positive).map { Quantity.gibibytes($0) },
                                   source: try source(dto.snapshot, specs))
            return write(name, spec, job, goal: .sandbox(name: name, state: spec.state), result: .daemonVersion)
        case .startSandbox: return try setState(job, .running, specs, result: .daemonVersion)
        case .stopSandbox: return try setState(job, .stopped, specs, result: .nothing)
        case .pauseSandbox: return try setState(job, .paused, specs, result: .empty)
        case .destroySandbox:
            let name = try Self.sandboxName(job.resourceId)
            return JobPlan(changes: [.remove(file: SpecManifest.sandboxFile(name))], goal: .sandboxAbsent(name: name), result: .nothing)
        case .resizeSandbox:
            let dto = try payload(Daytona.ResizeSandboxDTO.self, job)
            let (name, existing) = try sandbox(job.resourceId, specs)
            var spec = existing
            if let c = dto.cpu.flatMap(Self.positive) { spec.cpus = Int(c) }
            if let m = dto.memory.flatMap(Self.positive) { spec.memory = .gibibytes(m) }
            if let d = dto.disk.flatMap(Self.positive) { spec.disk = .gibibytes(d) }
            return write(name, spec, job, goal: .sandbox(name: name, state: spec.state, cpus: spec.cpus, memory: spec.memory, disk: spec.disk),
                         result: .nothing)
        case .forkSandbox:
            let dto = try payload(Daytona.ForkSandboxPayload.self, job)
            let (parentName, parent) = try sandbox(dto.sourceSandboxId, specs)
            let name = try Self.sandboxName(job.resourceId)
            let child = SandboxSpec(runtime: parent.runtime, state: .running, cpus: parent.cpus, memory: parent.memory, disk: parent.disk,
                                    limits: parent.limits, source: .fork(parentName), networkPool: parent.networkPool)
            return write(name, child, job, goal: .sandbox(name: name, state: .running), result: .daemonVersion)
        case .snapshotSandbox:
            let dto = try payload(Daytona.SnapshotSandboxPayload.self, job)
            let (sandboxName, _) = try sandbox(dto.sandboxId ?? job.resourceId, specs)
            let name = try Self.snapshotName(dto.name)
            let spec = SnapshotSpec(source: .sandbox(sandboxName), memory: dto.includeMemory ?? false)
            return JobPlan(changes: [.put(file: SpecManifest.snapshotFile(name), text: SpecManifest.snapshot(name, spec, daytonaID: job.resourceId))],
                           goal: .snapshot(name: name), result: .snapshotRef(name: name))
        case .pullSnapshot, .removeSnapshot, .inspectSnapshotInRegistry:
            throw JobRefused("\(job.type) is not supported by the Converge runner yet: Converge has no snapshot registry support; snapshots are taken on this host with SNAPSHOT_SANDBOX")
        case .createBackup, .buildSnapshot, .recoverSandbox, .updateSandboxNetworkSettings, .unknown:
            throw JobRefused("job type \(job.type) is not supported by the Converge runner")
        }
    }

    // MARK: - Pieces

    private func write(_ name: String, _ spec: SandboxSpec, _ job: Daytona.Job, goal: Goal, result: ResultShape) -> JobPlan {
        JobPlan(changes: [.put(file: SpecManifest.sandboxFile(name), text: SpecManifest.sandbox(name, spec, daytonaID: job.resourceId))],
                goal: goal, result: result)
    }

    private func setState(_ job: Daytona.Job, _ state: PowerState, _ specs: [ResourceID: Resource], result: ResultShape) throws -> JobPlan {
        let (name, existing) = try sandbox(job.resourceId, specs)
        var spec = existing
        spec.state = state
        return write(name, spec, job, goal: .sandbox(name: name, state: state), result: result)
    }

    private func payload<T: Decodable>(_ type: T.Type, _ job: Daytona.Job) throws -> T {
        guard let text = job.payload else { throw JobRefused("\(job.type) job \(job.id) carries no payload") }
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw JobRefused("\(job.type) job \(job.id): the payload is not a valid \(T.self): \(Self.describe(error))")
        }
    }

    private func runtime(_ sandboxClass: String?) throws -> Runtime {
        switch sandboxClass ?? "linux-vm" {
        case "linux-vm", "container": return linuxRuntime
        case "android": return .cuttlefish
        case let other: throw JobRefused("sandboxClass '\(other)' is not supported by the Converge runner (linux-vm, android)")
        }
    }

    /// A Snapshot spec of that name on this host, else a base image of that name. Image
    /// references (`repo/name:tag`) become image names: characters other than letters,
    /// digits, '.', '_' and '-' turn into '_'.
    private func source(_ snapshot: String, _ specs: [ResourceID: Resource]) throws -> SandboxSource {
        if specs[ResourceID(.snapshot, snapshot)] != nil { return .snapshot(snapshot) }
        let image = String(snapshot.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") ? $0 : "_" })
        if let problem = NameRules.imageProblem(image) { throw JobRefused("snapshot '\(snapshot)' cannot name a base image: it \(problem)") }
        return .image(image)
    }

    private func sandbox(_ id: String, _ specs: [ResourceID: Resource]) throws -> (String, SandboxSpec) {
        let name = try Self.sandboxName(id)
        guard let spec = specs[ResourceID(.sandbox, name)]?.sandbox else { throw JobRefused("sandbox \(id) does not exist on this runner") }
        return (name, spec)
    }

    static func positive(_ n: Int64) -> Int64? { n > 0 ? n : nil }

    /// A Daytona sandbox id as a Converge name: ids are lowercase UUIDs, which are DNS labels.
    static func sandboxName(_ id: String) throws -> String {
        let name = id.lowercased()
        if let problem = NameRules.problem(with: name) { throw JobRefused("sandbox id '\(id)' cannot be a Converge sandbox name: it \(problem)") }
        return name
    }

    /// A snapshot name as a Converge name: lowercase, other characters than letters,
    /// digits, '.' and '-' turn into '-'.
    static func snapshotName(_ raw: String) throws -> String {
        let name = String(raw.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "." || $0 == "-" ? $0 : "-" })
        if let problem = NameRules.problem(with: name, allowDots: true) { throw JobRefused("snapshot name '\(raw)' cannot be a Converge name: it \(problem)") }
        return name
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "not JSON"
        default: "\(error)"
        }
    }
}
