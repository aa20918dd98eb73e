import Foundation
import Glibc
import Reconciler
import Resources

extension CloudHypervisor {
    /// What only Cloud Hypervisor needs: one `cloud-hypervisor` process per sandbox (in its
    /// own process group), driven through the REST API on its Unix socket, with a vsock
    /// device through which the guest agent reports memory.
    public struct Adapter: VMMAdapter {
        public var runtime: Resources.Runtime { .cloudHypervisor }
        public var stepPrefix: String { "ch" }
        public var verifyStep: JournalStep { .chVerify }

        /// virtio-mem grows and shrinks (down to the boot size); the balloon and pause are
        /// built in; snapshots restore through `vm.restore`.
        public static let capabilities = RuntimeCapabilities(liveCPUResize: true, liveMemoryGrow: true, liveMemoryShrink: true,
                                                             memorySnapshot: true, balloon: true, pause: true)
        public var capabilities: RuntimeCapabilities { Self.capabilities }

        public let binary: String
        public let kernel: String
        public let initramfs: String?
        public let firmware: String?
        public let cmdline: String
        /// Extra environment for every VMM process (e.g. RUST_LOG), on top of Converge's own.
        public var vmmEnvironment: [String: String] = [:]
        /// Deadline of one API call (`CH_API_TIMEOUT`).
        public var apiTimeout: Double = 10
        /// The vsock port of the guest agent that reports guest memory (`CH_GUEST_AGENT_PORT`).
        public var guestAgentPort: UInt32 = 2280
        /// Deadline of one guest agent request: a guest that is slow to answer keeps its balloon.
        public var guestAgentTimeout: Double = 1
        /// How long to wait for a socket after exec, and for a process to exit.
        public var startTimeout: Double = 5
        public var stopTimeout: Double = 5

        public init(config: HostConfig) {
            binary = config.chBinary
            kernel = config.chKernel
            initramfs = config.chInitramfs
            firmware = config.chFirmware
            cmdline = config.chCmdline
        }

        // MARK: - Host checks

        public func missingParts() -> [String] {
            var problems: [String] = []
            if !FileManager.default.isExecutableFile(atPath: binary) {
                problems.append("CH_BINARY \(binary) is not an executable file; install cloud-hypervisor or point CH_BINARY at it (the bundled simulator is .build/debug/cloud-hypervisor-sim)")
            }
            if firmware == nil && !FileManager.default.fileExists(atPath: kernel) {
                problems.append("kernel \(kernel) does not exist; set CH_KERNEL_PATH (or CH_FIRMWARE_PATH)")
            }
            return problems
        }

        public func checkName(_ name: String, layout: SandboxLayout) throws {
            for socket in [layout.socket(name), layout.vsock(name)] where socket.utf8.count > UnixHTTP.maximumPathLength {
                throw StepFailure(step: "ch.record", message: "socket path \(socket) is \(socket.utf8.count) bytes; Unix sockets allow \(UnixHTTP.maximumPathLength). Set CH_SOCKETS_PATH to a shorter directory")
            }
        }

        // MARK: - Observe

        public func identify(_ record: SandboxRecord) async -> ProcessIdentity? {
            guard FileManager.default.fileExists(atPath: record.socket),
                  let pid = try? await Client(socketPath: record.socket, timeout: 2).ping(timeout: 1).pid else { return nil }
            return ProcFS.identity(of: Int32(pid))
        }

        public func live(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> LiveVM {
            let info: VmInfoSummary
            switch await vmInfo(record) {
            case .success(let answer): info = answer
            case .failure(let state): return LiveVM(state: state.vm, process: process)
            }
            let state = Self.state(info.state)
            var balloon = ObservedBalloon(allocated: Quantity(bytes: info.allocatedMemory), size: Quantity(bytes: info.balloonSize),
                                          target: info.config.balloon.map { Quantity(bytes: $0.size) })
            if state == .running && record.config.balloonPolicy != nil { await askGuest(record, into: &balloon) }
            return LiveVM(state: state, process: process, cpus: info.config.cpus.boot_vcpus,
                          memory: Quantity(bytes: info.allocatedMemory), balloon: balloon)
        }

        public func state(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> VMState {
            switch await vmInfo(record) {
            case .success(let info): Self.state(info.state)
            case .failure(let state): state.vm
            }
        }

        /// Why `vm.info` gave no VM: the state that answer means.
        struct NoVM: Swift.Error { var vm: VMState }

        /// `vm.info`, or the state its failure means: 404 is a VMM up with no VM config yet
        /// (`created`), anything else a VMM that does not answer.
        private func vmInfo(_ record: SandboxRecord) async -> Result<VmInfoSummary, NoVM> {
            do {
                return .success(try await Client(socketPath: record.socket, timeout: 2).infoSummary())
            } catch Error.http(_, let status, _) where status == 404 {
                return .failure(NoVM(vm: .created))
            } catch {
                return .failure(NoVM(vm: .unresponsive))
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

        /// The guest's own memory use and capacity, from its agent (docs/guest-agent.md §2).
        private func askGuest(_ record: SandboxRecord, into balloon: inout ObservedBalloon) async {
            let agent = GuestAgent(socketPath: Self.vsock(of: record), port: guestAgentPort, timeout: guestAgentTimeout)
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

        /// The vsock socket sits beside the API socket (`cvg-NAME.sock` → `cvg-NAME.vsock`).
        static func vsock(of record: SandboxRecord) -> String {
            record.socket.hasSuffix(".sock") ? String(record.socket.dropLast(5)) + ".vsock" : record.socket + ".vsock"
        }

        // MARK: - Power

        private func client(_ record: SandboxRecord) -> Client { Client(socketPath: record.socket, timeout: apiTimeout) }

        public func pause(_ record: SandboxRecord, journal: StepJournal) async throws {
            try await journal.step(.chVMPause) { try await client(record).pause() }
        }

        public func resume(_ record: SandboxRecord, journal: StepJournal) async throws {
            try await journal.step(.chVMResume) { try await client(record).resume() }
        }

        /// vm.create (unless a config is stored) then vm.boot, on a live VMM.
        public func boot(_ name: String, _ record: SandboxRecord, layout: SandboxLayout, journal: StepJournal) async throws {
            let client = client(record)
            let hasConfig = (try? await client.info()) != nil
            if !hasConfig {
                let config = vmConfig(name, record.config, layout: layout, slot: record.slot)
                try await journal.step(.chVMCreate) { try await client.create(config) }
            }
            try await journal.step(.chVMBoot) { try await client.boot() }
        }

        public func logTail(_ name: String, layout: SandboxLayout) -> String {
            VMMProcess.logTail(layout.vmmLog(name))
        }
    }
}

extension SandboxLayout {
    /// A CH VM's hybrid vsock socket, through which Converge reaches the guest agent.
    public func vsock(_ name: String) -> String { "\(socketsDirectory)/\(Self.prefix)\(name).vsock" }
}
