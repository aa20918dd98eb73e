import Glibc

/// The files of a snapshot directory (docs/snapshot_restore.md).
enum SnapshotLayout {
    static let config = "config.json"
    static let state = "state.json"
    static let memory = "memory-ranges"

    /// The directory of a `file:///DIR` URL.
    ///
    /// - Throws: 500 for any other scheme or a relative path.
    static func directory(of url: String, action: String) throws(APIError) -> String {
        let prefix = "file://"
        guard url.hasPrefix(prefix) else {
            throw APIError(.failed, action, "Unsupported URL \(url): only file:// URLs are supported")
        }
        let path = String(url.dropFirst(prefix.count))
        guard path.hasPrefix("/") else { throw APIError(.failed, action, "Invalid URL \(url): the path must be absolute") }
        return path
    }
}

// MARK: - vm.snapshot

extension VirtualMachineMonitor {
    /// `vm.snapshot {destination_url: "file:///DIR"}`: writes `config.json` (the stored config, pretty),
    /// `state.json` (VM state, vCPUs, balloon) and `memory-ranges` (a sparse file as large as the
    /// guest RAM) into DIR, which must exist. Disks are not included.
    ///
    /// - Throws: 400 for a bad body, 404 without a config, a state error unless Paused, 500 when
    ///   DIR is missing or a file cannot be written.
    func snapshot(body: [UInt8]) throws(APIError) {
        let action = "Error snapshotting VM"
        let request = try ConfigValidation.actionBody(body, Schemas.vmSnapshot)
        guard let config else { throw APIError.notCreated(action) }
        guard let booted = vm else { throw APIError.state(action, "VM is not running") }
        guard booted.state == .paused else {
            throw APIError.state(action, "Trying to snapshot while VM is running")
        }
        guard let url = request["destination_url"]?.stringValue else {
            throw APIError(.badRequest, action, "Missing destination_url")
        }
        let directory = try SnapshotLayout.directory(of: url, action: action)
        guard Files.isDirectory(directory) else {
            throw APIError(.failed, action, "Snapshot destination \(directory) is not an existing directory")
        }
        let memory = MemoryAccounting(config: config)
        let vcpus = config["cpus"]?["boot_vcpus"]?.intValue ?? 1
        let state: JSONValue = .object([
            "simulator": .string("cloud-hypervisor-sim"),
            "version": .string(SimVersion.build),
            "vm_state": .string(booted.state.rawValue),
            "vcpus": .array((0..<vcpus).map { .object(["id": .int($0)]) }),
            "memory": .object(["boot_size": .int(memory.bootSize), "hotplugged_size": .int(memory.hotplugged)]),
            "balloon": .object(["size": .int(memory.balloon)]),
        ])
        do {
            try Files.write("\(directory)/\(SnapshotLayout.config)", JSONWriter.pretty(config))
            try Files.write("\(directory)/\(SnapshotLayout.state)", JSONWriter.pretty(state))
            try Files.writeSparse("\(directory)/\(SnapshotLayout.memory)", size: memory.configuredTotal)
        } catch {
            throw APIError(.failed, action, "Failed to write snapshot: \(error)")
        }
    }

    // MARK: - vm.restore

    /// `vm.restore {source_url, prefault, memory_restore_mode, resume, net_fds}`: rebuilds the VM
    /// from a snapshot directory, Paused (or Running with `resume: true`).
    ///
    /// Only on a fresh VMM without a config. A failed restore leaves the VMM empty and reusable.
    /// - Throws: 400 for a bad body or `prefault` with on-demand restore; a state error when a
    ///   config is stored; 500 for a missing or unreadable snapshot file or disk, or on-demand
    ///   restore without userfaultfd.
    func restore(body: [UInt8]) throws(APIError) {
        let request = try ConfigValidation.actionBody(body, Schemas.restore)
        try restore(request)
    }

    /// Restores from an already-parsed `RestoreConfig` (also used by `--restore`).
    ///
    /// - Throws: as `restore(body:)`.
    func restore(_ request: JSONValue) throws(APIError) {
        let action = "Error restoring VM"
        let mode = request["memory_restore_mode"]?.stringValue ?? "Copy"
        let onDemand = mode.lowercased() != "copy"
        if onDemand && (request["prefault"]?.boolValue ?? false) {
            throw APIError(.badRequest, action, "Invalid restore configuration", "prefault is incompatible with memory_restore_mode OnDemand")
        }
        guard config == nil else { throw APIError.state(action, "VM is already created") }
        if onDemand && !userfaultfdAvailable {
            throw APIError(.failed, action, "Failed to create userfaultfd for on-demand memory restore: \(osErrorText(ENOSYS))")
        }
        let directory = try SnapshotLayout.directory(of: request["source_url"]?.stringValue ?? "", action: action)
        let configJSON = try readSnapshotFile("\(directory)/\(SnapshotLayout.config)", action)
        let restored: JSONValue
        do { restored = try ConfigValidation.vmConfig(from: configJSON) } catch { throw error.wrapped(action) }
        guard case .object = try readSnapshotFile("\(directory)/\(SnapshotLayout.state)", action) else {
            throw APIError(.failed, action, "Cannot parse snapshot file \(directory)/\(SnapshotLayout.state): not an object")
        }
        if case .failure(let error) = Files.status("\(directory)/\(SnapshotLayout.memory)") {
            throw APIError(.failed, action, "Cannot open memory file \(directory)/\(SnapshotLayout.memory): \(osErrorText(error.code))")
        }
        let disks: [FileDescriptor]
        let vsock: VsockDevice?
        do {
            disks = try GuestResources.openDisks(restored, lock: lockDisks)
            vsock = try VsockDevice.open(for: restored)
        } catch {
            throw error.wrapped(action)
        }
        replaceConfig(restored)
        // The snapshot holds a guest that was already up, agent included: no start delay.
        install(
            BootedVM(
                state: (request["resume"]?.boolValue ?? false) ? .running : .paused, disks: disks, vsock: vsock,
                guestGeneration: nextGuestGeneration(), guestStartedAt: nil))
    }
}

// MARK: - Helpers

extension VirtualMachineMonitor {
    /// Reads and parses one JSON file of a snapshot directory.
    ///
    /// - Throws: 500 when it is missing, unreadable or not JSON.
    fileprivate func readSnapshotFile(_ path: String, _ action: String) throws(APIError) -> JSONValue {
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch {
            throw APIError(.failed, action, "Cannot read snapshot file \(path): \(osErrorText(error.code))")
        }
        do { return try JSONParser.parse(bytes) } catch {
            throw APIError(.failed, action, "Cannot parse snapshot file \(path): \(error)")
        }
    }
}
