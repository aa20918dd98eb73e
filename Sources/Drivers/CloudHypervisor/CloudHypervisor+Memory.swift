import Foundation
import Glibc
import Reconciler
import Resources

extension CloudHypervisor.Adapter {
    /// `vm.snapshot` writes these (docs/snapshot_restore.md); disks are not among them.
    public var stateFiles: [String] { ["config.json", "state.json", "memory-ranges"] }

    /// CH's config.json is the VmConfig: vCPUs and memory with their boot-time ceilings.
    public func savedShape(in directory: String) -> SandboxConfig? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/config.json"),
              let config = try? JSONDecoder().decode(CloudHypervisor.VmConfig.self, from: data) else { return nil }
        let memory = Quantity(bytes: config.memory.size)
        let maxMemory = Quantity(bytes: config.memory.size + (config.memory.hotplug_size ?? 0))
        let limits = config.cpus.max_vcpus > config.cpus.boot_vcpus || maxMemory > memory
            ? ResourceLimits(cpus: config.cpus.max_vcpus, memory: maxMemory) : nil
        return SandboxConfig(runtime: .cloudHypervisor, source: .image("-"), cpus: config.cpus.boot_vcpus, memory: memory,
                             disk: Quantity(bytes: 0), limits: limits, maxCpus: config.cpus.max_vcpus, maxMemory: maxMemory,
                             networkPool: nil, balloonPolicy: nil, gpus: [])
    }

    /// Every VM CH runs can be snapshotted; VFIO devices cannot be restored elsewhere.
    public func saveRefusal(_ record: SandboxRecord) -> String? {
        record.config.gpus.isEmpty ? nil : "a VM with VFIO devices (devices.gpus) cannot be snapshotted or restored"
    }

    /// Deadline of a snapshot or restore: they move the whole memory, so the API deadline
    /// grows with it (1 s per 256 MiB on top).
    private func stateTimeout(_ record: SandboxRecord) -> Double {
        apiTimeout + Double(record.config.maxMemory.bytes >> 28)
    }

    public func saveState(_ name: String, _ record: SandboxRecord, into directory: String, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.chVMSnapshot) {
            try await CloudHypervisor.Client(socketPath: record.socket, timeout: apiTimeout)
                .snapshot(into: directory, timeout: stateTimeout(record))
        }
    }

    /// CH's config.json names files by absolute path: a copy of it pointed at this sandbox's
    /// disk, serial log and vsock socket goes into the sandbox's restore directory, beside
    /// links to the saved state. The TAP name needs no change: it is the same in every slot.
    /// On-demand memory first (pages load on first touch); where userfaultfd is missing,
    /// the copy restore, said in an event.
    public func restore(_ name: String, _ record: SandboxRecord, from directory: String, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.chVMRestore) {
            let target = layout.restoreDirectory(name)
            try prepareRestore(name, record, from: directory, into: target, layout: layout)
            defer { try? FileManager.default.removeItem(atPath: target) }
            let client = CloudHypervisor.Client(socketPath: record.socket, timeout: apiTimeout)
            do {
                try await client.restore(from: target, onDemand: true, timeout: stateTimeout(record))
            } catch CloudHypervisor.Error.http(_, _, let messages) where messages.joined().lowercased().contains("userfaultfd") {
                await journal.note("RestoreCopied", "on-demand memory restore is unavailable on this host (\(messages.joined(separator: ": "))); memory was copied instead")
                try await client.restore(from: target, onDemand: false, timeout: stateTimeout(record))
            }
        }
    }

    private func prepareRestore(_ name: String, _ record: SandboxRecord, from source: String, into target: String, layout: SandboxLayout) throws {
        let files = FileManager.default
        try? files.removeItem(atPath: target)
        try files.createDirectory(atPath: target, withIntermediateDirectories: true)
        guard let data = files.contents(atPath: "\(source)/config.json"),
              var config = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw StepFailure(step: "ch.vm.restore", message: "\(source)/config.json is missing or not a JSON object; the saved state cannot be restored")
        }
        if var disks = config["disks"] as? [[String: Any]], !disks.isEmpty {
            disks[0]["path"] = layout.disk(name)
            config["disks"] = disks
        }
        if var serial = config["serial"] as? [String: Any], serial["file"] != nil {
            serial["file"] = layout.serialLog(name)
            config["serial"] = serial
        }
        if var vsock = config["vsock"] as? [String: Any] {
            vsock["socket"] = layout.vsock(name)
            config["vsock"] = vsock
        }
        if var net = config["net"] as? [[String: Any]], let slot = record.slot {
            for i in net.indices { net[i]["tap"] = slot.tap }
            config["net"] = net
        }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                             to: "\(target)/config.json")
        for file in try files.contentsOfDirectory(atPath: source) where file != "config.json" && file != "manifest.json" && file != "disk.qcow2" {
            guard symlink("\(source)/\(file)", "\(target)/\(file)") == 0 else {
                throw SystemError(call: "symlink(\(source)/\(file))", code: errno)
            }
        }
        // CH refuses to restore a vsock device whose socket path exists.
        try AtomicFile.remove(layout.vsock(name))
    }
}
