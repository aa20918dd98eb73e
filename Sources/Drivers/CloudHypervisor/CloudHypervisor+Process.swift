import Foundation
import Glibc
import Reconciler
import Resources

extension CloudHypervisor.Adapter {
    /// Starts `cloud-hypervisor --api-socket path=SOCK` in its own process group and waits
    /// for the socket to answer, giving up early if the process exits. The same VMM takes
    /// `vm.create` or `vm.restore`, so `incoming` changes nothing here.
    public func spawn(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, incoming: Bool, journal: StepJournal) async throws -> ProcessIdentity {
        try await journal.step(.chSpawn) {
            let socket = layout.socket(name)
            // A stale socket of a dead VMM would make the wait below succeed too early, and
            // CH refuses to boot a VM whose vsock socket path exists.
            try AtomicFile.remove(socket)
            try AtomicFile.remove(layout.vsock(name))
            let environment = ProcessInfo.processInfo.environment.merging(vmmEnvironment) { _, new in new }
            let client = CloudHypervisor.Client(socketPath: socket, timeout: 1)
            let log = layout.vmmLog(name)
            return try await VMMProcess.spawn(
                [binary, "--api-socket", "path=\(socket)"], log: log, namespace: record.slot?.namespace, environment: environment,
                timeout: startTimeout, what: "cloud-hypervisor on \(socket)", step: "ch.spawn"
            ) { spawned in
                guard FileManager.default.fileExists(atPath: socket), let ping = try? await client.ping() else { return nil }
                return ping.pid.map { Int32($0) } ?? spawned
            }
        }
    }

    /// Stops the VMM: the guest first (vm.shutdown, then vm.delete drops the VM), then
    /// vmm.shutdown; waits for the exit, then SIGKILL to its group. Each call may fail
    /// (a paused or dead VM): what counts is that the process is gone afterwards.
    public func stop(_ name: String, _ record: SandboxRecord, process: ProcessIdentity?, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.chVMMStop) {
            let api = CloudHypervisor.Client(socketPath: record.socket, timeout: 2)
            if process != nil {
                try? await api.shutdown()
                try? await api.delete()
            }
            try? await api.shutdownVMM()
            if let process { try await VMMProcess.terminate(process, grace: stopTimeout, step: "ch.vmm.stop") }
            try AtomicFile.remove(record.socket)
            try AtomicFile.remove(record.socket + ".lock")
            try AtomicFile.remove(layout.vsock(name))  // CH leaves it behind
        }
    }

    // MARK: - Resize and balloon

    public func resize(_ name: String, _ record: SandboxRecord, to config: SandboxConfig, journal: StepJournal) async throws {
        let api = CloudHypervisor.Client(socketPath: record.socket, timeout: apiTimeout)
        let resize = CloudHypervisor.VmResize(desired_vcpus: config.cpus != record.config.cpus ? config.cpus : nil,
                                              desired_ram: config.memory != record.config.memory ? config.memory.bytes : nil)
        if let ram = resize.desired_ram, ram < record.config.memory.bytes,
           let balloon = try await api.infoSummary().config.balloon, balloon.size > 0 {
            // Unplugging memory under an inflated balloon can leave the guest nothing: give
            // the balloon back first; the next pass sizes it for the smaller VM.
            try await setBalloon(name, record, to: Quantity(bytes: 0), journal: journal)
        }
        try await journal.step(.chVMResize) { try await api.resize(resize) }
        try await journal.step(.chVerify) {
            let info = try await api.infoSummary()
            if let vcpus = resize.desired_vcpus, info.config.cpus.boot_vcpus != vcpus {
                throw StepFailure(step: "ch.verify", message: "asked for \(vcpus) vCPUs, the VM reports \(info.config.cpus.boot_vcpus)")
            }
            if let ram = resize.desired_ram, info.allocatedMemory != ram {
                throw StepFailure(step: "ch.verify", message: "asked for \(Quantity(bytes: ram)) of memory, the VM reports \(Quantity(bytes: info.allocatedMemory))")
            }
        }
    }

    public func setBalloon(_ name: String, _ record: SandboxRecord, to size: Quantity, journal: StepJournal) async throws {
        let api = CloudHypervisor.Client(socketPath: record.socket, timeout: apiTimeout)
        // One journal step for the call and its check: a balloon pass sizes every guest at
        // once, and a second step would cost each of them two more database writes.
        try await journal.step(.chVMBalloon) {
            // The call and its check on one connection: a balloon pass makes a thousand pairs.
            let info = try await api.withConnection { api in
                try await api.resize(CloudHypervisor.VmResize(desired_balloon: size.bytes))
                // CH records the target at once; the guest's driver gets there page by page,
                // so the actual size (memory_actual_size) is observed, not awaited.
                return try await api.balloonConfig()
            }
            guard info.config.balloon?.size == size.bytes else {
                throw StepFailure(step: "ch.verify", message: "asked for a balloon of \(size), the VM's config says \(info.config.balloon.map { Quantity(bytes: $0.size).description } ?? "no balloon device")")
            }
        }
    }

    // MARK: - VM config

    /// The `VmConfig` for a sandbox: boot-time ceilings for in-place resize (max_vcpus,
    /// hotplug_size with virtio-mem so memory also shrinks live), a balloon device at
    /// size 0, so a BalloonPolicy can be attached later without a reboot, and a vsock
    /// device through which the guest agent reports memory use.
    func vmConfig(_ name: String, _ config: SandboxConfig, layout: SandboxLayout, slot: NetworkSlot? = nil) -> CloudHypervisor.VmConfig {
        let hotplug = config.maxMemory.bytes - config.memory.bytes
        return CloudHypervisor.VmConfig(
            cpus: .init(boot_vcpus: config.cpus, max_vcpus: config.maxCpus),
            memory: .init(size: config.memory.bytes, hotplug_size: hotplug > 0 ? hotplug : nil,
                          hotplugged_size: nil, hotplug_method: hotplug > 0 ? "VirtioMem" : nil, shared: nil),
            payload: .init(kernel: firmware == nil ? kernel : nil, firmware: firmware,
                           cmdline: firmware == nil ? cmdline : nil, initramfs: initramfs),
            disks: [.init(path: layout.disk(name), readonly: nil, id: nil, image_type: nil)],
            net: slot.map { [.init(tap: $0.tap, ip: nil, mask: nil, mac: MACAddress.string(for: name), id: nil)] },
            balloon: .init(size: 0, deflate_on_oom: true, free_page_reporting: true),
            vsock: .init(cid: 3, socket: layout.vsock(name)),
            serial: .init(mode: "File", file: layout.serialLog(name)),
            console: .init(mode: "Off", file: nil),
            devices: config.gpus.isEmpty ? nil : config.gpus.map { .init(path: "/sys/bus/pci/devices/\($0)/", id: nil) })
    }
}
