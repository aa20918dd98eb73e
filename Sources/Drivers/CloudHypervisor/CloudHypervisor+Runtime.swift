import Foundation
import Glibc
import Reconciler
import Resources

extension CloudHypervisor {
    /// Runs each Cloud Hypervisor sandbox as its own `cloud-hypervisor` process (in its
    /// own process group) with a qcow2 overlay disk, driven through the REST API on its
    /// Unix socket.
    public struct Runtime: SandboxRuntime {
        public var runtime: Resources.Runtime { .cloudHypervisor }

        public let layout: Layout
        public let binary: String
        public let kernel: String
        public let initramfs: String?
        public let firmware: String?
        public let cmdline: String
        public let images: ImageResolver
        let disks: QemuImg
        /// Where sandboxes with `network.pool` get their slot; nil runs VMMs without networking.
        public var network: (any HostNetwork)?
        /// Extra environment for every VMM process (e.g. RUST_LOG), on top of Converge's own.
        public var vmmEnvironment: [String: String] = [:]
        /// How long to wait for a socket after exec, and for a process to exit.
        /// Deadline of one API call (`CH_API_TIMEOUT`).
        public var apiTimeout: Double = 10
        /// The vsock port of the guest agent that reports guest memory (`CH_GUEST_AGENT_PORT`).
        public var guestAgentPort: UInt32 = 2280
        /// Deadline of one guest agent request: a guest that is slow to answer keeps its balloon.
        public var guestAgentTimeout: Double = 1
        public var startTimeout: Double = 5
        public var stopTimeout: Double = 5

        public init(config: HostConfig) {
            layout = Layout(sandboxesDirectory: config.chSandboxes, socketsDirectory: config.chSockets)
            binary = config.chBinary
            kernel = config.chKernel
            initramfs = config.chInitramfs
            firmware = config.chFirmware
            cmdline = config.chCmdline
            images = ImageResolver(imagesDirectory: config.chImages, snapshotsDirectory: config.chSnapshots, baseImage: config.chBaseImage)
            disks = QemuImg(binary: config.qemuImg)
        }

        // MARK: - Observe

        public func observe() async throws -> [ObservedSandbox] {
            let names = layout.sandboxDirectoryNames()
            return await withTaskGroup(of: ObservedSandbox?.self) { group in
                var results: [ObservedSandbox] = []
                var next = 0
                // Bounded fan-out: hundreds of sandboxes, a handful of sockets at a time.
                for _ in 0..<min(32, names.count) {
                    let name = names[next]; next += 1
                    group.addTask { await observe(name) }
                }
                while let result = await group.next() {
                    if let result { results.append(result) }
                    if next < names.count {
                        let name = names[next]; next += 1
                        group.addTask { await observe(name) }
                    }
                }
                return results.sorted { $0.name < $1.name }
            }
        }

        /// One sandbox as it is now, or nil when its directory holds no metadata (a leftover
        /// when empty; anything else is not ours to touch).
        func observe(_ name: String) async -> ObservedSandbox? {
            guard let meta = Metadata.read(layout.metadata(name)) else { return nil }
            let live = await liveState(name, meta)
            var balloon: ObservedBalloon?
            if let info = live.info {
                balloon = ObservedBalloon(allocated: Quantity(bytes: info.allocatedMemory), size: Quantity(bytes: info.balloonSize),
                                          target: info.config.balloon.map { Quantity(bytes: $0.size) })
                if live.state == .running && meta.config.balloonPolicy != nil { await askGuest(name, into: &balloon!) }
            }
            return ObservedSandbox(name: name, config: meta.config, intendedState: meta.intendedState, vm: live.state,
                                   process: live.process, liveCpus: live.info?.config.cpus.boot_vcpus,
                                   liveMemory: live.info.map { Quantity(bytes: $0.allocatedMemory) },
                                   diskExists: FileManager.default.fileExists(atPath: layout.disk(name)), slot: meta.slot,
                                   balloon: balloon, misplaced: live.misplaced)
        }

        /// The guest's own memory use and capacity, from its agent (docs/guest-agent.md §2).
        private func askGuest(_ name: String, into balloon: inout ObservedBalloon) async {
            let agent = GuestAgent(socketPath: layout.vsock(name), port: guestAgentPort, timeout: guestAgentTimeout)
            do {
                let view = GuestMemoryView(memory: try await agent.memory(), allocated: balloon.allocated.bytes, balloon: balloon.size.bytes)
                balloon.guestUsed = Quantity(bytes: view.used)
                balloon.guestCapacity = Quantity(bytes: view.capacity)
            } catch {
                if !FileManager.default.fileExists(atPath: agent.socketPath) {
                    balloon.unavailable = "the VM has no vsock device (booted before Converge gave VMs one); stop and start the sandbox to add it"
                } else {
                    balloon.unavailable = "guest agent on vsock port \(guestAgentPort): \(error)"
                }
            }
        }

        struct LiveState {
            var state: VMState
            var process: ProcessIdentity?
            var info: VmInfoSummary?
            var misplaced: String?
        }

        /// Liveness is pid + start time + an answer on the socket, never a bare pid.
        func liveState(_ name: String, _ meta: Metadata) async -> LiveState {
            let client = Client(socketPath: meta.socket, timeout: 2)
            var process = meta.process.flatMap { ProcFS.isAlive($0) ? $0 : nil }
            if process == nil {
                // Crashed between spawn and recording the pid: the VMM itself says who it is.
                guard FileManager.default.fileExists(atPath: meta.socket), let ping = try? await client.ping(timeout: 1),
                      let pid = ping.pid, let identity = ProcFS.identity(of: Int32(pid)) else {
                    return LiveState(state: .absent)
                }
                process = identity
            }
            if let slot = meta.slot, let pid = process?.pid, !NetworkNamespace.contains(pid: pid, slot.namespace) {
                // Its addresses would route to whatever now holds that name: not to be trusted.
                return LiveState(state: .unresponsive, process: process,
                                 misplaced: "the VMM (pid \(pid)) does not run in its slot's network namespace \(slot.namespace) (deleted or made again by someone else); it is restarted there")
            }
            do {
                let info = try await client.infoSummary()
                return LiveState(state: Self.state(info.state), process: process, info: info)
            } catch Error.http(_, let status, _) where status == 404 {
                return LiveState(state: .created, process: process)  // VMM up, no VM config yet
            } catch {
                return LiveState(state: .unresponsive, process: process)
            }
        }

        static func state(_ raw: String) -> VMState {
            switch raw {
            case "Created": .created
            case "Running": .running
            case "Paused": .paused
            case "Shutdown": .shutdown
            default: .unknown(raw)
            }
        }

        // MARK: - Leftovers

        /// Empty sandbox directories: a crash between making one and recording in it.
        public func leftovers() -> [String] {
            layout.sandboxDirectoryNames().map(layout.directory).filter { dir in
                (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true
            }
        }

        public func removeLeftovers() throws {
            for dir in leftovers() where rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY {
                throw SystemError(call: "rmdir(\(dir))", code: errno)
            }
        }

        // MARK: - Create

        public func create(_ name: String, config: SandboxConfig, state: PowerState, reuseDisk: Bool, journal: StepJournal) async throws {
            let base: String
            switch config.source {
            case .image(let image):
                base = try images.resolve(image)
            case .snapshot, .fork:
                throw StepFailure(step: "ch.source", message: "restoring from a snapshot and forking are not implemented in this version of Converge; use source.image")
            }
            try checkSocketPath(name)
            try await journal.step(.sandboxRecord) {
                try FileManager.default.createDirectory(atPath: layout.directory(name), withIntermediateDirectories: true)
                try FileManager.default.createDirectory(atPath: layout.socketsDirectory, withIntermediateDirectories: true)
                let existing = Metadata.read(layout.metadata(name))
                try Metadata(name: name, config: config, intendedState: state, process: existing?.process,
                             socket: layout.socket(name), createdAt: existing?.createdAt ?? Clock.now,
                             slot: existing?.slot).write(to: layout.metadata(name))
            }
            if let pool = config.networkPool {
                guard let network else {
                    throw StepFailure(step: "network.slot.claim", message: "sandbox \(name) asks for pool \(pool) but this host has no network driver")
                }
                let slot = try await network.claim(pool: pool, for: name, journal: journal)
                try await journal.step(.sandboxRecordSlot) {
                    guard var meta = Metadata.read(layout.metadata(name)) else { return }
                    meta.slot = slot
                    try meta.write(to: layout.metadata(name))
                }
            }
            let disk = layout.disk(name)
            if reuseDisk && FileManager.default.fileExists(atPath: disk) {
                let info = try await journal.step(.diskInspect) { try await disks.info(disk) }
                if info.virtualSize < config.disk.bytes {
                    try await journal.step(.diskGrow) { try await disks.grow(disk, to: config.disk.bytes) }
                }
            } else {
                try await journal.step(.diskOverlayCreate) {
                    try await disks.createOverlay(at: disk, backing: base, size: config.disk.bytes)
                }
            }
            if state != .stopped { try await transition(name, to: state, journal: journal) }
        }

        private func checkSocketPath(_ name: String) throws {
            for socket in [layout.socket(name), layout.vsock(name)] where socket.utf8.count > UnixHTTP.maximumPathLength {
                throw StepFailure(step: "ch.record", message: "socket path \(socket) is \(socket.utf8.count) bytes; Unix sockets allow \(UnixHTTP.maximumPathLength). Set CH_SOCKETS_PATH to a shorter directory")
            }
        }

        // MARK: - Power

        public func transition(_ name: String, to state: PowerState, journal: StepJournal) async throws {
            var meta = try recorded(name)
            let live = await liveState(name, meta)
            switch state {
            case .running, .paused:
                switch live.state {
                case .running where state == .running, .paused where state == .paused:
                    break
                case .running:
                    try await journal.step(.chVMPause) { try await client(meta).pause() }
                case .paused:
                    try await journal.step(.chVMResume) { try await client(meta).resume() }
                case .absent, .created, .shutdown, .unresponsive, .unknown:
                    // `.created` too: the config a VMM holds may predate the recorded one.
                    // A VMM that cannot be trusted is replaced by a fresh process; the disk stays.
                    if live.state != .absent { try await stopVMM(name, meta, live.process, journal: journal) }
                    try await boot(name, &meta, journal: journal)
                    if state == .paused { try await journal.step(.chVMPause) { try await client(meta).pause() } }
                }
                try await verify(name, meta, expect: state == .running ? .running : .paused, journal: journal)
            case .stopped:
                if live.state != .absent { try await stopVMM(name, meta, live.process, journal: journal) }
                meta.process = nil
            case .suspended:
                throw StepFailure(step: "ch.suspend", message: "state suspended (memory snapshot to disk) is not implemented in this version of Converge; use paused or stopped")
            }
            meta.intendedState = state
            try await journal.step(.sandboxRecordUpdate) { try meta.write(to: layout.metadata(name)) }
        }

        /// The sandbox's metadata, or a failure saying it is not recorded.
        private func recorded(_ name: String) throws -> Metadata {
            guard let meta = Metadata.read(layout.metadata(name)) else {
                throw StepFailure(step: "ch.record.read", message: "no metadata at \(layout.metadata(name)); the sandbox is not recorded")
            }
            return meta
        }

        private func client(_ meta: Metadata) -> Client { Client(socketPath: meta.socket, timeout: apiTimeout) }

        /// Spawns a fresh VMM and boots the VM: spawn → wait for the socket → vm.create → vm.boot.
        private func boot(_ name: String, _ meta: inout Metadata, journal: StepJournal) async throws {
            try preflight()
            if meta.slot == nil, let pool = meta.config.networkPool, let network {
                // A crash between the claim and its record: claims are idempotent per sandbox.
                let slot = try await network.claim(pool: pool, for: name, journal: journal)
                meta.slot = slot
                let record = meta
                try await journal.step(.sandboxRecordSlot) { try record.write(to: layout.metadata(name)) }
            }
            let identity = try await journal.step(.chSpawn) { try await spawn(name, meta) }
            meta.process = identity
            // Record the pid before anything else can fail, so the next pass finds the process.
            try await journal.step(.sandboxRecordPID) { try meta.write(to: layout.metadata(name)) }
            do {
                try await bootExisting(name, &meta, process: identity, journal: journal)
            } catch {
                // A half-started VMM is torn down, so the next pass starts from a clean slate.
                try? await stopVMM(name, meta, identity, journal: journal)
                throw error
            }
        }

        /// vm.create (unless a config is stored) then vm.boot, on a live VMM.
        private func bootExisting(_ name: String, _ meta: inout Metadata, process: ProcessIdentity?, journal: StepJournal) async throws {
            let client = client(meta)
            let hasConfig = (try? await client.info()) != nil
            if !hasConfig {
                let config = vmConfig(name, meta.config, slot: meta.slot)
                try await journal.step(.chVMCreate) { try await client.create(config) }
            }
            try await journal.step(.chVMBoot) { try await client.boot() }
        }

        /// "Booted" is not "running": checks the process and the VM state after the fact.
        private func verify(_ name: String, _ meta: Metadata, expect: VMState, journal: StepJournal) async throws {
            try await journal.step(.chVerify) {
                let live = await liveState(name, meta)
                guard live.state == expect else {
                    throw StepFailure(step: "ch.verify", message: "expected the VM \(expect), observed \(live.state)\(logTail(name))")
                }
            }
        }

        private func preflight() throws {
            if let problem = missingVMMParts().first { throw StepFailure(step: "ch.preflight", message: problem) }
        }

        public func preflight(_ config: SandboxConfig) -> [String] {
            var problems = missingVMMParts()
            switch config.source {
            case .image(let image):
                do { _ = try images.resolve(image) } catch { problems.append("\(error)") }
            case .snapshot, .fork:
                problems.append("restoring from a snapshot and forking are not implemented in this version of Converge; use source.image")
            }
            return problems
        }

        private func missingVMMParts() -> [String] {
            var problems: [String] = []
            if !FileManager.default.isExecutableFile(atPath: binary) {
                problems.append("CH_BINARY \(binary) is not an executable file; install cloud-hypervisor or point CH_BINARY at it (the bundled simulator is .build/debug/cloud-hypervisor-sim)")
            }
            if firmware == nil && !FileManager.default.fileExists(atPath: kernel) {
                problems.append("kernel \(kernel) does not exist; set CH_KERNEL_PATH (or CH_FIRMWARE_PATH)")
            }
            return problems
        }

        /// Starts `cloud-hypervisor --api-socket path=SOCK` in its own process group and
        /// waits for the socket to answer, giving up early if the process exits.
        private func spawn(_ name: String, _ meta: Metadata) async throws -> ProcessIdentity {
            let socket = layout.socket(name)
            // A stale socket of a dead VMM would make the wait below succeed too early, and
            // CH refuses to boot a VM whose vsock socket path exists.
            try AtomicFile.remove(socket)
            try AtomicFile.remove(layout.vsock(name))
            let environment = ProcessInfo.processInfo.environment.merging(vmmEnvironment) { _, new in new }
            let argv = [binary, "--api-socket", "path=\(socket)"]
            let log = layout.vmmLog(name)
            let pid: Int32
            if let slot = meta.slot {
                // Spawned from a thread inside the slot's namespace: the VMM lives there.
                pid = try await NetworkNamespace.run(slot.namespace) { _ in try Spawn.detached(argv, logPath: log, environment: environment) }
            } else {
                pid = try Spawn.detached(argv, logPath: log, environment: environment)
            }
            let deadline = Date().addingTimeInterval(startTimeout)
            let client = Client(socketPath: socket, timeout: 1)
            while Date() < deadline {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    throw StepFailure(step: "ch.spawn", message: "cloud-hypervisor exited during start (status \((status >> 8) & 0xff))\(logTail(name))")
                }
                if FileManager.default.fileExists(atPath: socket), let ping = try? await client.ping() {
                    guard let identity = ProcFS.identity(of: pid) else { break }
                    if let reported = ping.pid, reported != Int64(pid) {
                        // A wrapper (netns exec) stands between us and the VMM: record the VMM.
                        return ProcFS.identity(of: Int32(reported)) ?? identity
                    }
                    return identity
                }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw StepFailure(step: "ch.spawn", message: "cloud-hypervisor did not answer on \(socket) within \(Int(startTimeout))s\(logTail(name))")
        }

        /// Stops the VMM: the guest first (vm.shutdown, then vm.delete drops the VM), then
        /// vmm.shutdown; waits for the exit, then SIGKILL to its group. Each call may fail
        /// (a paused or dead VM): what counts is that the process is gone afterwards.
        private func stopVMM(_ name: String, _ meta: Metadata, _ process: ProcessIdentity?, journal: StepJournal) async throws {
            try await journal.step(.chVMMStop) {
                let api = Client(socketPath: meta.socket, timeout: 2)
                if process != nil {
                    try? await api.shutdown()
                    try? await api.delete()
                }
                try? await api.shutdownVMM()
                if let process {
                    let deadline = Date().addingTimeInterval(stopTimeout)
                    while ProcFS.isAlive(process) && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
                    if ProcFS.isAlive(process) {
                        // Its own group: the VMM and anything it started go together.
                        kill(-process.pid, SIGKILL)
                        kill(process.pid, SIGKILL)
                        let hard = Date().addingTimeInterval(2)
                        while ProcFS.isAlive(process) && Date() < hard { try await Task.sleep(nanoseconds: 5_000_000) }
                    }
                    guard !ProcFS.isAlive(process) else {
                        throw StepFailure(step: "ch.vmm.stop", message: "\(process) survived SIGKILL")
                    }
                }
                try AtomicFile.remove(meta.socket)
                try AtomicFile.remove(meta.socket + ".lock")
                try AtomicFile.remove(layout.vsock(name))  // CH leaves it behind
            }
        }

        /// The last lines of the VMM's log, to show with a failure.
        func logTail(_ name: String) -> String {
            guard let data = FileManager.default.contents(atPath: layout.vmmLog(name)), !data.isEmpty else { return "" }
            let lines = String(decoding: data.suffix(2048), as: UTF8.self).split(separator: "\n").suffix(3)
            return "; its log (\(layout.vmmLog(name))) ends: " + lines.joined(separator: " | ")
        }

        // MARK: - Resize and records

        public func resize(_ name: String, config: SandboxConfig, journal: StepJournal) async throws {
            var meta = try recorded(name)
            let resize = VmResize(desired_vcpus: config.cpus != meta.config.cpus ? config.cpus : nil,
                                  desired_ram: config.memory != meta.config.memory ? config.memory.bytes : nil)
            if let ram = resize.desired_ram, ram < meta.config.memory.bytes,
               let balloon = try await client(meta).infoSummary().config.balloon, balloon.size > 0 {
                // Unplugging memory under an inflated balloon can leave the guest nothing: give
                // the balloon back first; the next pass sizes it for the smaller VM.
                try await setBalloon(name, to: Quantity(bytes: 0), journal: journal)
            }
            try await journal.step(.chVMResize) { try await client(meta).resize(resize) }
            try await journal.step(.chVerify) {
                let info = try await client(meta).infoSummary()
                if let vcpus = resize.desired_vcpus, info.config.cpus.boot_vcpus != vcpus {
                    throw StepFailure(step: "ch.verify", message: "asked for \(vcpus) vCPUs, the VM reports \(info.config.cpus.boot_vcpus)")
                }
                if let ram = resize.desired_ram, info.allocatedMemory != ram {
                    throw StepFailure(step: "ch.verify", message: "asked for \(Quantity(bytes: ram)) of memory, the VM reports \(Quantity(bytes: info.allocatedMemory))")
                }
            }
            meta.config = config
            try await journal.step(.sandboxRecordUpdate) { try meta.write(to: layout.metadata(name)) }
        }

        public func setBalloon(_ name: String, to size: Quantity, journal: StepJournal) async throws {
            let meta = try recorded(name)
            try await journal.step(.chVMBalloon) { try await client(meta).resize(VmResize(desired_balloon: size.bytes)) }
            // CH records the target at once; the guest's driver gets there page by page, so
            // the actual size (memory_actual_size) is observed, not awaited.
            try await journal.step(.chVerify) {
                let info = try await client(meta).infoSummary()
                guard info.config.balloon?.size == size.bytes else {
                    throw StepFailure(step: "ch.verify", message: "asked for a balloon of \(size), the VM's config says \(info.config.balloon.map { Quantity(bytes: $0.size).description } ?? "no balloon device")")
                }
            }
        }

        public func update(_ name: String, config: SandboxConfig, journal: StepJournal) async throws {
            var meta = try recorded(name)
            if let slot = meta.slot, slot.pool != config.networkPool, let network {
                // Another pool (or none): give the old slot back; the next start claims anew.
                try await network.release(sandbox: name, journal: journal)
                meta.slot = nil
            }
            meta.config = config
            try await journal.step(.sandboxRecordUpdate) { try meta.write(to: layout.metadata(name)) }
        }

        public func growDisk(_ name: String, to size: Quantity, journal: StepJournal) async throws {
            var meta = try recorded(name)
            try await journal.step(.diskGrow) { try await disks.grow(layout.disk(name), to: size.bytes) }
            meta.config.disk = size
            try await journal.step(.sandboxRecordUpdate) { try meta.write(to: layout.metadata(name)) }
        }

        // MARK: - Destroy

        public func destroy(_ name: String, keepDisk: Bool, journal: StepJournal) async throws {
            let meta = Metadata.read(layout.metadata(name))
            let socket = meta?.socket ?? layout.socket(name)
            let probe = meta ?? Metadata(name: name, config: SandboxConfig(resolving: SandboxSpec(source: .image("-")), defaults: HostDefaults()),
                                         intendedState: .stopped, process: nil, socket: socket, createdAt: 0, slot: nil)
            let live = await liveState(name, probe)
            try await stopVMM(name, probe, live.process, journal: journal)
            if let network {
                // Also when the claim never reached the metadata (a crash in between).
                try await network.release(sandbox: name, journal: journal)
                if var updated = Metadata.read(layout.metadata(name)) {
                    updated.slot = nil
                    try await journal.step(.sandboxRecordUpdate) { try updated.write(to: layout.metadata(name)) }
                }
            }
            guard !keepDisk else { return }
            try await journal.step(.diskRemove) {
                for file in [layout.disk(name), layout.disk(name) + ".tmp", layout.vmmLog(name), layout.serialLog(name)] {
                    try AtomicFile.remove(file)
                }
            }
            // The record goes last: a crash before this line leaves something to find.
            try await journal.step(.sandboxRecordRemove) {
                try AtomicFile.remove(layout.metadata(name))
                let dir = layout.directory(name)
                for leftover in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where leftover.hasPrefix(Layout.metadataFile) {
                    try AtomicFile.remove("\(dir)/\(leftover)")  // temporary metadata of an interrupted write
                }
                if rmdir(dir) != 0 && errno != ENOENT {
                    throw SystemError(call: "rmdir(\(dir))", code: errno)
                }
            }
        }

        // MARK: - VM config

        /// The `VmConfig` for a sandbox: boot-time ceilings for in-place resize (max_vcpus,
        /// hotplug_size with virtio-mem so memory also shrinks live), a balloon device at
        /// size 0, so a BalloonPolicy can be attached later without a reboot, and a vsock
        /// device through which the guest agent reports memory use.
        func vmConfig(_ name: String, _ config: SandboxConfig, slot: NetworkSlot? = nil) -> VmConfig {
            let hotplug = config.maxMemory.bytes - config.memory.bytes
            return VmConfig(
                cpus: CpusConfig(boot_vcpus: config.cpus, max_vcpus: config.maxCpus),
                memory: MemoryConfig(size: config.memory.bytes, hotplug_size: hotplug > 0 ? hotplug : nil,
                                     hotplugged_size: nil, hotplug_method: hotplug > 0 ? "VirtioMem" : nil, shared: nil),
                payload: PayloadConfig(kernel: firmware == nil ? kernel : nil, firmware: firmware,
                                       cmdline: firmware == nil ? cmdline : nil, initramfs: initramfs),
                disks: [DiskConfig(path: layout.disk(name), readonly: nil, id: nil, image_type: nil)],
                net: slot.map { [NetConfig(tap: $0.tap, ip: nil, mask: nil, mac: MACAddress.string(for: name), id: nil)] },
                balloon: BalloonConfig(size: 0, deflate_on_oom: true, free_page_reporting: true),
                vsock: VsockConfig(cid: 3, socket: layout.vsock(name)),
                serial: SerialConfig(mode: "File", file: layout.serialLog(name)),
                console: ConsoleConfig(mode: "Off", file: nil),
                devices: config.gpus.isEmpty ? nil : config.gpus.map { DeviceConfig(path: "/sys/bus/pci/devices/\($0)/", id: nil) })
        }
    }
}
