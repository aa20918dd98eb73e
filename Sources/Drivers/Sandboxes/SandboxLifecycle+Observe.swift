import Foundation
import Glibc
import Reconciler
import Resources

/// Observation: what every sandbox of this runtime is now, trusting an unchanged VMM's
/// last answer where the caller allows it.
extension SandboxLifecycle {
    // MARK: - Observe

    public func observe() async throws -> [ObservedSandbox] {
        try await observe(trusting: [:])
    }

    public func observe(trusting known: [String: ObservedSandbox]) async throws -> [ObservedSandbox] {
        var results: [ObservedSandbox] = []
        var ask: [String] = []
        var candidates: [ObservedSandbox] = []
        for name in layout.sandboxDirectoryNames() {
            // The cheap check first: the same record and socket as at the last answer.
            if let trusted = known[name], trusted.fingerprint == fingerprint(name) { candidates.append(trusted) } else { ask.append(name) }
        }
        let running = processes?.running(candidates.compactMap(\.process))
        for candidate in candidates {
            if stillTrue(candidate, running: running) { results.append(candidate) } else { ask.append(candidate.name) }
        }
        if !ask.isEmpty { await vmm.beginObservation() }
        let asked = await withTaskGroup(of: ObservedSandbox?.self) { group in
            var asked: [ObservedSandbox] = []
            var next = 0
            // Bounded fan-out: hundreds of sandboxes, a handful of sockets at a time.
            for _ in 0..<min(32, ask.count) {
                let name = ask[next]; next += 1
                group.addTask { await observe(name) }
            }
            while let result = await group.next() {
                if let result { asked.append(result) }
                if next < ask.count {
                    let name = ask[next]; next += 1
                    group.addTask { await observe(name) }
                }
            }
            return asked
        }
        let all = results + asked
        processes?.keep(only: Set(all.compactMap(\.process)))
        return all.sorted { $0.name < $1.name }
    }

    /// The checks an earlier answer must still pass without asking the VMM: its process
    /// is the same (pid + start time) and still runs in its slot's namespace, and the guest
    /// had answered what a balloon policy needs (an incomplete answer is asked again).
    /// - Parameter running: with held process handles, the processes that still run. A
    ///   process cannot leave its namespace by itself; one deleted and made again by hand
    ///   is seen when the VMM is next asked (at the latest at the resync).
    private func stillTrue(_ trusted: ObservedSandbox, running: Set<ProcessIdentity>?) -> Bool {
        if let process = trusted.process {
            if let running {
                guard running.contains(process) else { return false }
            } else {
                guard ProcFS.isAlive(process) else { return false }
                if let slot = trusted.slot, !NetworkNamespace.contains(pid: process.pid, slot.namespace) { return false }
            }
        }
        if trusted.config.balloonPolicy != nil, trusted.vm == .running, trusted.balloon?.guestUsed == nil { return false }
        return true
    }

    /// What the host shows of a sandbox without asking its VMM: its record file (inode,
    /// change time, size) and its socket's inode. A new record, a new VMM or a new socket
    /// changes it.
    func fingerprint(_ name: String) -> String {
        var record = stat(), socket = stat()
        guard stat(layout.metadata(name), &record) == 0 else { return "none" }
        let socketInode = stat(layout.socket(name), &socket) == 0 ? socket.st_ino : 0
        return "\(record.st_ino):\(record.st_ctim.tv_sec).\(record.st_ctim.tv_nsec):\(record.st_size):\(socketInode)"
    }

    /// One sandbox as it is now, or nil when its directory holds no record (a leftover
    /// when empty; anything else is not ours to touch).
    func observe(_ name: String) async -> ObservedSandbox? {
        let before = fingerprint(name)
        let verifiedAt = Clock.now
        guard let record = SandboxRecord.read(layout.metadata(name)) else { return nil }
        let live = await liveState(name, record)
        let disk = layout.disk(name)
        let hasDisk = if let owner = vmm as? any DiskOwningVMM { await owner.hasDisks(name, record) } else { FileManager.default.fileExists(atPath: disk) }
        // A device allocated by a launch that a crash kept from being recorded is asked for.
        var device = record.device
        if device == nil && live.state.hasProcess { device = await vmm.device(name, record) }
        // A clone whose first restore never completed counts as not made yet: made again.
        let made = hasDisk && !(record.cloning == true && live.state == .absent)
        return ObservedSandbox(name: name, config: record.config, intendedState: record.intendedState, vm: live.state,
                               process: live.process, liveCpus: live.cpus, liveMemory: live.memory,
                               diskExists: made, slot: record.slot, balloon: live.balloon, misplaced: live.misplaced,
                               diskChain: BackingChain.chain(of: disk),
                               savedMemory: record.savedState.flatMap { $0.owned ? DiskUsage.bytes(under: $0.directory) : nil }.map { Quantity(bytes: $0) },
                               cloneOf: record.cloneOf, verifiedAt: verifiedAt, fingerprint: before, device: device)
    }

    /// Liveness is pid + start time + an answer on the socket, never a bare pid; and a VMM
    /// with a slot must run in that slot's namespace.
    /// - Parameter full: also its size and balloon (observation); a transition needs only the state.
    func liveState(_ name: String, _ record: SandboxRecord, full: Bool = true) async -> LiveVM {
        var process = record.process.flatMap { ProcFS.isAlive($0) ? $0 : nil }
        if process == nil {
            // Crashed between spawn and recording the pid: the VMM itself says who it is.
            process = await vmm.identify(record)
        }
        guard let process else { return LiveVM(state: .absent) }
        if let slot = record.slot, !NetworkNamespace.contains(pid: process.pid, slot.namespace) {
            // Its addresses would route to whatever now holds that name: not to be trusted.
            return LiveVM(state: .unresponsive, process: process,
                          misplaced: "the VMM (pid \(process.pid)) does not run in its slot's network namespace \(slot.namespace) (deleted or made again by someone else); it is restarted there")
        }
        guard full else { return LiveVM(state: await vmm.state(name, record, process: process), process: process) }
        return await vmm.live(name, record, process: process)
    }
}
