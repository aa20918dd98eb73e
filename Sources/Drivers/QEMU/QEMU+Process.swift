import Foundation
import Glibc
import Reconciler
import Resources

extension QEMU.Adapter {
    /// The command line: q35 with the configured accelerator, started paused (`-S`) so
    /// the VM boots only when asked; memory slots and `maxmem` reserved for hotplug up to
    /// `limits.memory`; the disk, the slot's `tap0` and a balloon as PCI virtio devices;
    /// QMP on the sandbox's socket. The guest learns its address from the command line:
    /// the same in every slot.
    /// - Parameter incoming: waits for saved state (`-incoming defer`) instead of booting.
    func argv(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, incoming: Bool = false) -> [String] {
        let config = record.config
        let mib = { (q: Quantity) in "\(q.bytes >> 20)M" }
        var memory = "size=\(mib(config.memory))"
        if config.maxMemory > config.memory { memory += ",slots=\(Self.memorySlots),maxmem=\(mib(config.maxMemory))" }
        var append = cmdline
        if let slot = record.slot {
            let prefix = slot.guestGateway.split(separator: "/").last.map(String.init) ?? "24"
            let gateway = slot.guestGateway.split(separator: "/").first.map(String.init) ?? slot.guestGateway
            append += " cvg.ip=\(slot.guestAddress)/\(prefix) cvg.gw=\(gateway)"
        }
        var args = [binary, "-name", "cvg-\(name)", "-machine", machine, "-accel", accel, "-nodefaults", "-no-user-config",
                    "-display", "none", "-S", "-no-shutdown", "-m", memory, "-smp", "\(config.cpus)",
                    "-kernel", kernel, "-append", append,
                    "-drive", "file=\(layout.disk(name)),if=virtio,format=qcow2",
                    "-device", "virtio-balloon-pci,id=balloon0",
                    "-serial", "file:\(layout.serialLog(name))",
                    "-qmp", "unix:\(record.socket),server=on,wait=off", "-pidfile", Self.pidFile(record)]
        if let initramfs { args += ["-initrd", initramfs] }
        if incoming { args += ["-incoming", "defer"] }
        if let slot = record.slot {
            args += ["-netdev", "tap,id=net0,ifname=\(slot.tap),script=no,downscript=no",
                     "-device", "virtio-net-pci,netdev=net0,mac=\(MACAddress.string(for: name))"]
        }
        return args
    }

    public func spawn(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, incoming: Bool, journal: StepJournal) async throws -> ProcessIdentity {
        try await journal.step(.qemuSpawn) {
            // A stale socket of a dead VMM would answer nothing; QEMU makes its own.
            for file in Self.socketFiles(record) { try AtomicFile.remove(file) }
            let log = layout.vmmLog(name)
            let socket = record.socket
            return try await VMMProcess.spawn(
                argv(name, record, layout: layout, incoming: incoming), log: log, namespace: record.slot?.namespace,
                environment: ProcessInfo.processInfo.environment, timeout: startTimeout, what: "qemu on \(socket)", step: "qemu.spawn"
            ) { spawned in
                guard FileManager.default.fileExists(atPath: socket),
                      (try? await QEMU.QMPClient.connect(socket: socket, timeout: 1)) != nil else { return nil }
                return spawned
            }
        }
    }

    /// Lets the VM run (it was started with `-S`), then asks the balloon driver for
    /// statistics every `statsInterval` seconds.
    public func boot(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.qemuVMStart) {
            let qmp = try await connect(record)
            if try await qmp.status() == .prelaunch { try await qmp.cont() }
            try await qmp.qomSet(path: Self.balloonPath, property: "guest-stats-polling-interval", value: .int(statsInterval))
        }
    }

    public func pause(_ record: SandboxRecord, journal: StepJournal) async throws {
        try await journal.step(.qemuVMPause) { try await connect(record).stop() }
    }

    public func resume(_ record: SandboxRecord, journal: StepJournal) async throws {
        try await journal.step(.qemuVMResume) { try await connect(record).cont() }
    }

    /// `quit` through QMP, then the process group is waited for and, if need be, killed.
    public func stop(_ name: String, _ record: SandboxRecord, process: ProcessIdentity?, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.qemuVMMStop) {
            if process != nil, let qmp = try? await connect(record, timeout: 2) { try? await qmp.quit() }
            if let process { try await VMMProcess.terminate(process, grace: stopTimeout, step: "qemu.vmm.stop") }
            for file in Self.socketFiles(record) { try AtomicFile.remove(file) }
        }
    }

    // MARK: - Resize and balloon

    /// Memory grows by one pc-dimm of the difference; the VM must report the new size.
    public func resize(_ name: String, _ record: SandboxRecord, to config: SandboxConfig, journal: StepJournal) async throws {
        guard config.cpus == record.config.cpus else {
            throw StepFailure(step: "qemu.resize", message: "QEMU sandboxes change vCPUs by replacement, not live")
        }
        let qmp = try await connect(record)
        let summary = try await qmp.memorySizeSummary()
        let current = summary.baseMemory + (summary.pluggedMemory ?? 0)
        let target = config.memory.bytes
        guard target >= current else {
            throw StepFailure(step: "qemu.resize", message: "QEMU sandboxes do not give memory back live (\(Quantity(bytes: current)) → \(config.memory))")
        }
        if target > current {
            // Named by where the dimm starts, so a retried plug after a crash finds its own.
            let id = "dimm\(current >> 20)m"
            try await journal.step(.qemuMemoryPlug) {
                // A retry after a crash between the two calls finds its backend there already.
                do { try await qmp.addMemoryBackendRAM(id: "mem-\(id)", bytes: target - current) } catch QEMU.QMPError.command(_, let desc, _)
                    where desc.contains("already") || desc.contains("duplicate") {}
                try await qmp.addPCDimm(id: id, memdev: "mem-\(id)")
            }
        }
        try await journal.step(.qemuVerify) {
            let after = try await qmp.memorySizeSummary()
            let now = after.baseMemory + (after.pluggedMemory ?? 0)
            guard now == target else {
                throw StepFailure(step: "qemu.verify", message: "asked for \(config.memory) of memory, the VM reports \(Quantity(bytes: now))")
            }
        }
    }

    /// QMP's `balloon` takes the memory the guest should keep; the target is recorded
    /// beside the socket, since the guest's driver reaches it over time.
    public func setBalloon(_ name: String, _ record: SandboxRecord, to size: Quantity, journal: StepJournal) async throws {
        let qmp = try await connect(record)
        let summary = try await qmp.memorySizeSummary()
        let allocated = summary.baseMemory + (summary.pluggedMemory ?? 0)
        try await journal.step(.qemuVMBalloon) {
            try await qmp.balloon(bytes: allocated - size.bytes)
            try AtomicFile.write(Data("\(size.bytes)".utf8), to: Self.balloonTarget(record))
        }
        try await journal.step(.qemuVerify) {
            let actual = try await qmp.queryBalloon()
            guard actual > 0 && actual <= allocated else {
                throw StepFailure(step: "qemu.verify", message: "the balloon reports \(Quantity(bytes: actual)) for a VM of \(Quantity(bytes: allocated))")
            }
        }
    }
}
