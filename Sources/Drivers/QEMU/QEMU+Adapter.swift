import Foundation
import Glibc
import Reconciler
import Resources

extension QEMU {
    /// What only QEMU needs: one `qemu-system-x86_64` per sandbox (q35, PCI virtio devices),
    /// started paused (`-S`) with a QMP socket, then driven through QMP alone: no libvirt,
    /// no shell, no `exec:` URIs.
    public struct Adapter: VMMAdapter {
        public var runtime: Resources.Runtime { .qemu }
        public var stepPrefix: String { "qemu" }
        public var verifyStep: JournalStep { .qemuVerify }

        /// Memory grows by pc-dimm hotplug into slots reserved at boot; it is not taken back
        /// live, and vCPUs are fixed (both are replacements that keep the disk). The balloon
        /// reports the guest's own statistics. Memory state is saved and loaded as a
        /// migration stream through a passed descriptor.
        public static let capabilities = RuntimeCapabilities(liveCPUResize: false, liveMemoryGrow: true, liveMemoryShrink: false,
                                                             memorySnapshot: true, balloon: true, pause: true)
        public var capabilities: RuntimeCapabilities { Self.capabilities }

        public let binary: String
        public let accel: String
        public let machine: String
        public let kernel: String
        public let initramfs: String?
        public let cmdline: String
        /// Deadline of one QMP call.
        public var apiTimeout: Double = 10
        public var startTimeout: Double = 10
        public var stopTimeout: Double = 10
        /// Seconds between the balloon driver's statistics updates (`guest-stats-polling-interval`).
        public var statsInterval: Int64 = 2
        /// Memory slots reserved at boot for pc-dimm hotplug.
        static let memorySlots = 8
        static let balloonPath = "/machine/peripheral/balloon0"

        public init(config: HostConfig) throws {
            binary = config.qemuBinary
            accel = try config.qemuAccel()
            machine = config.qemuMachine
            kernel = config.qemuKernel
            initramfs = config.qemuInitramfs
            cmdline = config.qemuCmdline
        }

        // MARK: - Host checks

        public func missingParts() -> [String] {
            var problems: [String] = []
            if !FileManager.default.isExecutableFile(atPath: binary) {
                problems.append("QEMU_BINARY \(binary) is not an executable file; install qemu-system-x86 or point QEMU_BINARY at it")
            }
            if !FileManager.default.fileExists(atPath: kernel) {
                problems.append("kernel \(kernel) does not exist; set QEMU_KERNEL_PATH (scripts/test-guest builds a small one)")
            }
            if let initramfs, !FileManager.default.fileExists(atPath: initramfs) {
                problems.append("initramfs \(initramfs) does not exist; fix QEMU_INITRAMFS_PATH")
            }
            if accel == "kvm" && access("/dev/kvm", R_OK | W_OK) != 0 {
                problems.append("QEMU_ACCEL is kvm but /dev/kvm cannot be opened; set QEMU_ACCEL=tcg for software emulation")
            }
            return problems
        }

        public func checkName(_ name: String, layout: SandboxLayout) throws {
            // QEMU's option syntax splits on commas: a path holding one would change the options.
            for path in [layout.disk(name), layout.serialLog(name), layout.socket(name)] where path.contains(",") {
                throw StepFailure(step: "qemu.record", message: "path \(path) contains a comma, which QEMU's option syntax cannot take; use QEMU_SANDBOXES_PATH and QEMU_SOCKETS_PATH without commas")
            }
            let socket = layout.socket(name)
            if socket.utf8.count > UnixHTTP.maximumPathLength {
                throw StepFailure(step: "qemu.record", message: "socket path \(socket) is \(socket.utf8.count) bytes; Unix sockets allow \(UnixHTTP.maximumPathLength). Set QEMU_SOCKETS_PATH to a shorter directory")
            }
        }

        /// Beside the QMP socket: the pid QEMU writes at start, and the balloon target last set.
        static func pidFile(_ record: SandboxRecord) -> String { record.socket + ".pid" }
        static func balloonTarget(_ record: SandboxRecord) -> String { record.socket + ".balloon" }
        /// Everything QEMU and Converge keep beside a sandbox's socket while its VMM lives.
        static func socketFiles(_ record: SandboxRecord) -> [String] { [record.socket, pidFile(record), balloonTarget(record)] }

        func connect(_ record: SandboxRecord, timeout: Double? = nil) async throws -> QMPClient {
            try await QMPClient.connect(socket: record.socket, timeout: timeout ?? apiTimeout)
        }

        // MARK: - Observe

        /// QMP does not say who the VMM is; its pidfile does, checked against its command line.
        public func identify(_ record: SandboxRecord) async -> ProcessIdentity? {
            guard let text = try? String(contentsOfFile: Self.pidFile(record), encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains(record.socket) else { return nil }
            return ProcFS.identity(of: pid)
        }

        public func live(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> LiveVM {
            guard let qmp = try? await connect(record, timeout: 2), let status = try? await qmp.status() else {
                return LiveVM(state: .unresponsive, process: process)
            }
            let state = Self.state(status)
            guard state == .running || state == .paused else { return LiveVM(state: state, process: process) }
            let memory = try? await qmp.memorySizeSummary()
            let allocated = memory.map { $0.baseMemory + ($0.pluggedMemory ?? 0) }
            var balloon: ObservedBalloon?
            if let allocated, let actual = try? await qmp.queryBalloon() {
                let target = (try? String(contentsOfFile: Self.balloonTarget(record), encoding: .utf8)).flatMap { Int64($0) }
                balloon = ObservedBalloon(allocated: Quantity(bytes: allocated), size: Quantity(bytes: max(0, allocated - actual)),
                                          target: target.map { Quantity(bytes: $0) })
                if state == .running && record.config.balloonPolicy != nil { await askGuest(qmp, into: &balloon!) }
            }
            return LiveVM(state: state, process: process, cpus: try? await qmp.cpuCount(),
                          memory: allocated.map { Quantity(bytes: $0) }, balloon: balloon)
        }

        public func state(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> VMState {
            guard let qmp = try? await connect(record, timeout: 2), let status = try? await qmp.status() else { return .unresponsive }
            return Self.state(status)
        }

        static func state(_ status: QEMU.RunState) -> VMState {
            switch status {
            case .running: .running
            // postmigrate: its state was saved and it waits, paused (`cont` resumes it).
            case .paused, .suspended, .postmigrate: .paused
            case .prelaunch, .inmigrate: .created
            case .shutdown: .shutdown
            default: .unknown(status.raw)
            }
        }

        /// The guest's own figures from the virtio-balloon statistics queue (`guest-stats`).
        private func askGuest(_ qmp: QMPClient, into balloon: inout ObservedBalloon) async {
            let notReported = UInt64.max  // what QEMU answers for a statistic the guest never sent
            do {
                let stats = try await qmp.qomGet(path: Self.balloonPath, property: "guest-stats")
                guard let total = stats["stats"]?["stat-total-memory"]?.uintValue, total != notReported,
                      let available = stats["stats"]?["stat-available-memory"]?.uintValue, available != notReported else {
                    balloon.unavailable = "the guest's balloon driver has not reported statistics yet (needs virtio_balloon in the guest)"
                    return
                }
                let view = GuestMemoryView(total: Int64(total), available: Int64(available),
                                           allocated: balloon.allocated.bytes, balloon: balloon.size.bytes)
                balloon.guestUsed = Quantity(bytes: view.used)
                balloon.guestCapacity = Quantity(bytes: view.capacity)
            } catch {
                balloon.unavailable = "balloon statistics: \(error)"
            }
        }

        public func logTail(_ name: String, layout: SandboxLayout) -> String {
            VMMProcess.logTail(layout.vmmLog(name))
        }
    }
}
