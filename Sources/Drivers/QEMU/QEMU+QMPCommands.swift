import Foundation

extension QEMU.QMPClient {
    private typealias JSON = QEMU.JSON

    /// Decodes nothing from a reply whose `return` is `{}`.
    private struct Empty: Codable {}

    private nonisolated func run(_ command: String, _ arguments: [String: JSON]? = nil, timeout: Double?) async throws {
        _ = try await call(command, arguments: arguments, returning: JSON.self, timeout: timeout)
    }

    // MARK: - Run state

    /// Maps to QMP `query-status`.
    public nonisolated func status(timeout: Double? = nil) async throws -> QEMU.RunState {
        QEMU.RunState(raw: try await call("query-status", arguments: Empty?.none, returning: QEMU.StatusInfo.self,
                                          timeout: timeout).status)
    }

    /// Maps to QMP `stop`: pauses the vCPUs (run state `paused`, event `STOP`). Idempotent.
    public nonisolated func stop(timeout: Double? = nil) async throws { try await run("stop", timeout: timeout) }

    /// Maps to QMP `cont`: runs the vCPUs (event `RESUME`); also leaves `prelaunch` (`-S`).
    public nonisolated func cont(timeout: Double? = nil) async throws { try await run("cont", timeout: timeout) }

    /// Maps to QMP `quit`: QEMU answers, then exits (event `SHUTDOWN`, then end of stream).
    public nonisolated func quit(timeout: Double? = nil) async throws { try await run("quit", timeout: timeout) }

    /// Maps to QMP `system_powerdown`: an ACPI power-button press; the guest decides.
    public nonisolated func systemPowerdown(timeout: Double? = nil) async throws { try await run("system_powerdown", timeout: timeout) }

    // MARK: - CPUs and memory

    /// Maps to QMP `query-cpus-fast`: the number of vCPUs present.
    public nonisolated func cpuCount(timeout: Double? = nil) async throws -> Int {
        try await call("query-cpus-fast", arguments: Empty?.none, returning: [JSON].self, timeout: timeout).count
    }

    /// Maps to QMP `query-memory-size-summary`: boot memory and hot-plugged memory.
    public nonisolated func memorySizeSummary(timeout: Double? = nil) async throws -> QEMU.MemorySizeSummary {
        try await call("query-memory-size-summary", arguments: Empty?.none, returning: QEMU.MemorySizeSummary.self,
                       timeout: timeout)
    }

    /// Maps to QMP `object-add` (flat arguments: `qom-type`, `id`, then `properties`).
    public nonisolated func objectAdd(qomType: String, id: String, properties: [String: QEMU.JSON] = [:],
                          timeout: Double? = nil) async throws {
        try await run("object-add", properties.merging(["qom-type": .string(qomType), "id": .string(id)]) { $1 },
                      timeout: timeout)
    }

    /// Maps to QMP `object-add` of a `memory-backend-ram` of `bytes` (the memdev of a pc-dimm).
    public nonisolated func addMemoryBackendRAM(id: String, bytes: Int64, timeout: Double? = nil) async throws {
        try await objectAdd(qomType: "memory-backend-ram", id: id, properties: ["size": .int(bytes)], timeout: timeout)
    }

    /// Maps to QMP `object-del`.
    public nonisolated func objectDel(id: String, timeout: Double? = nil) async throws {
        try await run("object-del", ["id": .string(id)], timeout: timeout)
    }

    /// Maps to QMP `device_add` (flat arguments: `driver`, `id`, then `properties`).
    public nonisolated func deviceAdd(driver: String, id: String, properties: [String: QEMU.JSON] = [:],
                          timeout: Double? = nil) async throws {
        try await run("device_add", properties.merging(["driver": .string(driver), "id": .string(id)]) { $1 },
                      timeout: timeout)
    }

    /// Maps to QMP `device_add` of a `pc-dimm` backed by the memory backend `memdev`; needs
    /// `-m SIZE,slots=N,maxmem=MAX` with a free slot.
    public nonisolated func addPCDimm(id: String, memdev: String, timeout: Double? = nil) async throws {
        try await deviceAdd(driver: "pc-dimm", id: id, properties: ["memdev": .string(memdev)], timeout: timeout)
    }

    /// Maps to QMP `device_del`: a request; the guest completes the unplug (event `DEVICE_DELETED`).
    public nonisolated func deviceDel(id: String, timeout: Double? = nil) async throws {
        try await run("device_del", ["id": .string(id)], timeout: timeout)
    }

    // MARK: - Balloon and QOM

    /// Maps to QMP `balloon`: asks the guest's balloon driver for a logical size of `bytes`.
    public nonisolated func balloon(bytes: Int64, timeout: Double? = nil) async throws {
        try await run("balloon", ["value": .int(bytes)], timeout: timeout)
    }

    /// Maps to QMP `query-balloon`: the guest's current logical size (`actual`) in bytes.
    /// - Throws: `.command(class: "DeviceNotActive", ...)` without a balloon device.
    public nonisolated func queryBalloon(timeout: Double? = nil) async throws -> Int64 {
        try await call("query-balloon", arguments: Empty?.none, returning: QEMU.BalloonInfo.self, timeout: timeout).actual
    }

    /// Maps to QMP `qom-set`, e.g. `guest-stats-polling-interval` on `/machine/peripheral/balloon0`.
    public nonisolated func qomSet(path: String, property: String, value: QEMU.JSON, timeout: Double? = nil) async throws {
        try await run("qom-set", ["path": .string(path), "property": .string(property), "value": value], timeout: timeout)
    }

    /// Maps to QMP `qom-get`, e.g. `guest-stats` on `/machine/peripheral/balloon0`.
    public nonisolated func qomGet(path: String, property: String, timeout: Double? = nil) async throws -> QEMU.JSON {
        try await call("qom-get", arguments: ["path": JSON.string(path), "property": .string(property)],
                       returning: JSON.self, timeout: timeout)
    }

    // MARK: - Descriptors and migration

    /// Maps to QMP `getfd`: hands QEMU a duplicate of `descriptor` (sent as SCM_RIGHTS with
    /// the request) under `name`, for `fd:NAME` URIs and `-netdev tap,fd=`. The caller keeps
    /// and still closes its own descriptor. Reusing a name replaces QEMU's earlier one.
    public nonisolated func getfd(name: String, descriptor: Int32, timeout: Double? = nil) async throws {
        _ = try await call("getfd", arguments: ["fdname": JSON.string(name)], passing: descriptor,
                           returning: JSON.self, timeout: timeout)
    }

    /// Maps to QMP `migrate`: starts an outgoing migration to `uri` (e.g. `fd:NAME` after
    /// `getfd`); poll `queryMigrate()` until `.completed` or `.failed`.
    public nonisolated func migrate(uri: String, timeout: Double? = nil) async throws {
        try await run("migrate", ["uri": .string(uri)], timeout: timeout)
    }

    /// Maps to QMP `query-migrate`.
    public nonisolated func queryMigrate(timeout: Double? = nil) async throws -> QEMU.MigrationInfo {
        try await call("query-migrate", arguments: Empty?.none, returning: QEMU.MigrationInfo.self, timeout: timeout)
    }

    /// Maps to QMP `migrate-incoming` on a QEMU started with `-incoming defer`: loads the
    /// state from `uri` (e.g. `fd:NAME` after `getfd`); the run state leaves `inmigrate`
    /// once it is loaded.
    public nonisolated func migrateIncoming(uri: String, timeout: Double? = nil) async throws {
        try await run("migrate-incoming", ["uri": .string(uri)], timeout: timeout)
    }
}
