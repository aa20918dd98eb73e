import Foundation
import Glibc
import Reconciler
import Resources

extension QEMU.Adapter {
    /// The stream of one outgoing migration: RAM (zero pages skipped) and device state.
    public var stateFiles: [String] { ["memory.state"] }
    static let stateFile = "memory.state"

    /// A migration stream does not say the shape it was saved at: only a manifest does.
    public func savedShape(in directory: String) -> SandboxConfig? { nil }

    /// The restoring QEMU must be built with the same devices: memory plugged since boot
    /// would need its dimms recreated by id, which this version does not do.
    public func saveRefusal(_ record: SandboxRecord) -> String? {
        let boot = record.config.bootMemory ?? record.config.memory
        guard record.config.memory == boot else {
            return "its memory was hot-plugged since boot (\(boot) → \(record.config.memory)); stop and start it once, then save its state"
        }
        return nil
    }

    /// Deadline of a save or load: the API deadline, plus 1 s per 128 MiB of memory.
    private func stateTimeout(_ record: SandboxRecord) -> Double {
        apiTimeout + Double(record.config.maxMemory.bytes >> 27)
    }

    /// QEMU 7.2 has no `file:` URI and `exec:` runs a shell: the file is opened here and its
    /// descriptor handed over (`getfd`), then `migrate fd:` runs to completion.
    public func saveState(_ name: String, _ record: SandboxRecord, into directory: String, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.qemuStateSave) {
            let path = "\(directory)/\(Self.stateFile)"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SystemError(call: "open(\(path))", code: errno) }
            defer { close(fd) }
            let qmp = try await connect(record)
            if try await qmp.status() == .postmigrate {
                // Saved once already, then interrupted before it was recorded: QEMU migrates
                // a VM only once, so it runs again for an instant and is paused anew.
                try await qmp.cont()
                try await qmp.stop()
            }
            try await qmp.getfd(name: "cvgsave", descriptor: fd)
            try await qmp.migrate(uri: "fd:cvgsave")
            let deadline = Date().addingTimeInterval(stateTimeout(record))
            while true {
                let info = try await qmp.queryMigrate()
                switch info.status {
                case .completed?:
                    guard fsync(fd) == 0 else { throw SystemError(call: "fsync(\(path))", code: errno) }
                    return
                case .failed?, .cancelled?:
                    throw StepFailure(step: "qemu.state.save", message: "QEMU could not save the VM's state: \(info.errorDesc ?? "migration \(info.status!)")")
                default:
                    guard Date() < deadline else {
                        throw StepFailure(step: "qemu.state.save", message: "saving the VM's state did not finish within \(Int(stateTimeout(record)))s")
                    }
                    try await Task.sleep(nanoseconds: 2_000_000)
                }
            }
        }
    }

    /// `-incoming defer` waits; the saved stream goes in through `getfd` and
    /// `migrate-incoming`, and the VM is paused (started with `-S`) once it is loaded.
    /// The MAC of the saved guest comes with its device state: a clone keeps it.
    public func restore(_ name: String, _ record: SandboxRecord, from directory: String, layout: SandboxLayout, journal: StepJournal) async throws {
        try await journal.step(.qemuStateLoad) {
            let path = "\(directory)/\(Self.stateFile)"
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw StepFailure(step: "qemu.state.load", message: "cannot open the saved state \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            let qmp = try await connect(record)
            try await qmp.getfd(name: "cvgload", descriptor: fd)
            try await qmp.migrateIncoming(uri: "fd:cvgload")
            let deadline = Date().addingTimeInterval(stateTimeout(record))
            while true {
                let status: QEMU.RunState
                do { status = try await qmp.status() } catch {
                    // QEMU exits when the stream does not load.
                    throw StepFailure(step: "qemu.state.load", message: "QEMU did not load \(path): \(error)\(logTail(name, layout: layout))")
                }
                if status == .paused || status == .running { break }
                guard Date() < deadline, status == .inmigrate || status == .prelaunch else {
                    throw StepFailure(step: "qemu.state.load", message: "loading \(path) left the VM \(status.raw)\(logTail(name, layout: layout))")
                }
                try await Task.sleep(nanoseconds: 2_000_000)
            }
            try await qmp.qomSet(path: Self.balloonPath, property: "guest-stats-polling-interval", value: .int(statsInterval))
        }
    }
}
