import Foundation
import Glibc
import Reconciler
import Resources
import Synchronization

extension Cuttlefish {
    /// What only Cuttlefish needs: one cvd group of one instance per sandbox, which cvd
    /// launches, boots (`create` blocks until booted), stops and removes; cvd owns the
    /// device's processes, disks and TAPs. Health has three layers: cvd's fleet, then adb,
    /// then the instance's crosvm process.
    public struct Adapter: VMMAdapter {
        public var runtime: Resources.Runtime { .cuttlefish }
        public var stepPrefix: String { "cuttlefish" }
        public var verifyStep: JournalStep { .cuttlefishVerify }

        /// cvd changes no size live (a new size is a relaunch on the kept data), has no
        /// balloon Converge drives, pauses through `suspend`, and saves memory only from
        /// devices launched snapshot-compatible (validation requires that where it is asked).
        /// It cannot fork a running device. At most `CVD_MAX_INSTANCES` devices (TAP sets).
        public var capabilities: RuntimeCapabilities {
            RuntimeCapabilities(liveCPUResize: false, liveMemoryGrow: false, liveMemoryShrink: false, memorySnapshot: true,
                                balloon: false, pause: true, fork: false, instanceLimit: maxInstances)
        }

        public var tools: Tools
        public var host: HostFiles
        public let artifacts: String
        /// Where Snapshots live (`CH_SNAPSHOTS_PATH`, shared by every runtime).
        public let snapshotsDirectory: String
        public let adbBasePort: Int
        public let maxInstances: Int
        /// Deadlines: a boot takes one to two minutes on real hardware.
        public var launchTimeout: Double = 900
        public var stopTimeout: Double = 120
        public var adbTimeout: Double = 5
        /// The fleet read by `beginObservation`, reused by the `live` calls of that pass.
        let cache = FleetCache()

        public init(config: HostConfig) throws {
            tools = Tools(cvd: config.cvdBinary, adb: config.cvdADB, home: config.cvdHome)
            host = HostFiles(tmp: config.cvdTmp, locks: config.cvdLocks)
            artifacts = config.cvdArtifacts
            snapshotsDirectory = config.chSnapshots
            adbBasePort = try config.cvdADBBasePort()
            maxInstances = try config.cvdMaxInstances()
        }

        // MARK: - Host checks

        public func missingParts() -> [String] {
            var problems: [String] = []
            if !FileManager.default.isExecutableFile(atPath: tools.cvd) {
                problems.append("CVD_PATH \(tools.cvd) is not an executable file; install cuttlefish-base (or point CVD_PATH at cvd; the simulator is Tools/cuttlefish-sim/cvd)")
            }
            if !FileManager.default.isExecutableFile(atPath: tools.adb) {
                problems.append("CVD_ADB_PATH \(tools.adb) is not an executable file; point it at adb (cuttlefish-base ships one)")
            }
            return problems
        }

        /// Every sandbox name maps to a valid group name (see `groupName`).
        public func checkName(_ name: String, layout: SandboxLayout) throws {}

        /// The serial adb reaches instance `id` at (`127.0.0.1:<base + id − 1>`).
        public func serial(_ id: Int) -> String { "127.0.0.1:\(adbBasePort + id - 1)" }

        // MARK: - Observe

        public func beginObservation() async {
            cache.store(try? await tools.fleet())
        }

        /// The fleet this pass read, or a fresh one.
        func fleet(fresh: Bool = false) async -> Fleet? {
            if !fresh, let cached = cache.recent() { return cached }
            return try? await tools.fleet()
        }

        /// Group `name`'s instance, when the group exists and Converge made it.
        func instance(_ name: String, in fleet: Fleet?) -> Instance? {
            let group = Cuttlefish.groupName(name)
            return fleet?.instance(of: group).flatMap { owns(group, $0) ? $0 : nil }
        }

        /// A group is Converge's when it was launched with the HOME Converge gives it (its
        /// `home` link names `CVD_HOME/<group>`): another state directory's, or a user's own
        /// group of the same name, is never touched.
        func owns(_ group: String, _ instance: Instance) -> Bool {
            guard let base = instance.baseDirectory, let link = Paths.resolved("\(base)/home") else { return false }
            return link == Paths.resolved(tools.home(of: group))
        }

        public func device(_ name: String, _ record: SandboxRecord) async -> DeviceInstance? {
            guard let id = instance(name, in: await fleet(fresh: true))?.id else { return nil }
            return DeviceInstance(group: Cuttlefish.groupName(name), id: id, serial: serial(id))
        }

        /// The instance's crosvm, found by its instance number (recorded, or cvd's).
        public func identify(_ record: SandboxRecord) async -> ProcessIdentity? {
            if let id = record.device?.id { return host.crosvm(id) }
            let fleet = await fleet()
            return instance(record.name, in: fleet)?.id.flatMap(host.crosvm)
        }

        public func live(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> LiveVM {
            LiveVM(state: await health(name, record, fleet: await fleet()), process: process)
        }

        public func state(_ name: String, _ record: SandboxRecord, process: ProcessIdentity) async -> VMState {
            await health(name, record, fleet: await fleet(fresh: true))
        }

        /// Layers 1 and 2, for a device whose crosvm runs (layer 3, checked by the caller):
        /// cvd's word when it says Running; adb's when cvd's database may have drifted.
        func health(_ name: String, _ record: SandboxRecord, fleet: Fleet?) async -> VMState {
            // A crosvm of ours that cvd does not list (or cvd does not answer): stopped, started anew.
            guard let instance = instance(name, in: fleet) else { return .unresponsive }
            if instance.status.isActive && FileManager.default.fileExists(atPath: Self.pausedMarker(record)) { return .paused }
            switch instance.status {
            case .running:
                return .running
            case .cancelled, .unreachable:
                // "Cancelled" after a killed cvd, "Unreachable" after a failed status call:
                // a device that says it booted is running (runner-android's known issue 1).
                guard let id = instance.id else { return .unresponsive }
                return await tools.bootCompleted(serial(id), timeout: adbTimeout) == true ? .running : .unresponsive
            case .starting, .preparing:
                return .created
            case .unknown(let raw):
                return .unknown(raw)
            default:
                // Stopped or failed, yet its crosvm runs: a leftover, stopped and started anew.
                return .unresponsive
            }
        }

        /// Converge's own mark that the device is suspended in place: cvd's fleet still says
        /// Running (its database does not change on `suspend`).
        static func pausedMarker(_ record: SandboxRecord) -> String { record.socket + ".paused" }

        public func logTail(_ name: String, layout: SandboxLayout) -> String { "" }
    }

    /// One fleet read shared by the sandboxes of an observation pass, for at most `ttl` seconds.
    final class FleetCache: Sendable {
        private let state = Mutex<(fleet: Fleet, at: Date)?>(nil)
        let ttl: Double = 10

        func store(_ fleet: Fleet?) { state.withLock { $0 = fleet.map { ($0, Date()) } } }

        func recent() -> Fleet? {
            state.withLock { entry in entry.flatMap { Date().timeIntervalSince($0.at) < ttl ? $0.fleet : nil } }
        }
    }
}
