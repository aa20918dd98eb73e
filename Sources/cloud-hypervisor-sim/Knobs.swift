/// Test-only fault and behaviour knobs, read from the environment once at start. Per-endpoint
/// delays are read at start for the known endpoints and when a request arrives for others (the
/// process never changes its own environment, so both read the same value).
struct Knobs: Sendable {
    /// `CH_SIM_STATE_ERROR_STATUS`: 500 (default, what the server code sends) or 405 (the OpenAPI file).
    var stateErrorStatus = 500
    /// `CH_SIM_EXIT_ON=vm.boot[,vm.pause]`: crash (exit 1, no response) when one is called.
    var exitOn: Set<String> = []
    /// `CH_SIM_SOCKET_DELAY_MS`: wait this long (after taking the lock) before binding the socket.
    var socketDelayMilliseconds = 0
    /// `CH_SIM_REQUEST_LOG`: append one JSON line per request to this file.
    var requestLogPath: String?
    /// `CH_SIM_GUEST_SHUTDOWN_MS`: how long the guest takes to power off after `vm.power-button` (default 100).
    var guestShutdownMilliseconds = 100
    /// `CH_SIM_IGNORE_POWER_BUTTON=1`: the guest ignores the ACPI power button.
    var ignorePowerButton = false
    /// `CH_SIM_USERFAULTFD=0`: on-demand restore fails as on a host without userfaultfd.
    var userfaultfdAvailable = true
    /// `CH_SIM_DISK_LOCKS=0`: do not take advisory locks on disk images.
    var lockDisks = true
    /// `CH_SIM_GUEST_AGENT=0`: no guest agent listens on vsock.
    var guestAgent = true
    /// `CH_SIM_GUEST_AGENT_PORT`: the vsock port the guest agent listens on (default 2280).
    var guestAgentPort: UInt32 = 2280
    /// `CH_SIM_GUEST_AGENT_DELAY_MS`: the agent starts listening this long after the guest boots.
    var guestAgentDelayMilliseconds = 0
    /// `CH_SIM_GUEST_USED`: the guest's used memory in bytes (default 200 MiB).
    var guestUsedBytes: Int64 = 200 << 20
    /// `CH_SIM_RESIZE_DROPS_RAM=1`: a booted VM answers `desired_ram` with 204 but keeps its
    /// memory (a fault, so a caller's verify step can be tested).
    var resizeDropsRAM = false
    /// `CH_SIM_DELAY_MS_<ENDPOINT>` of every known endpoint, 0 when unset: looking it up per
    /// request cost more than the request.
    var knownDelays: [String: Int] = [:]

    /// An environment variable with an unusable value.
    struct Invalid: Error, Sendable, CustomStringConvertible {
        var name: String
        var value: String
        var description: String { "invalid value '\(value)' for \(name)" }
    }

    /// Reads every knob.
    ///
    /// - Throws: `Invalid` for a malformed number or status.
    static func fromEnvironment() throws(Invalid) -> Knobs {
        var knobs = Knobs()
        if let raw = environment("CH_SIM_STATE_ERROR_STATUS") {
            guard let status = Int(raw), status == 405 || status == 500 else { throw Invalid(name: "CH_SIM_STATE_ERROR_STATUS", value: raw) }
            knobs.stateErrorStatus = status
        }
        if let raw = environment("CH_SIM_EXIT_ON") {
            knobs.exitOn = Set(raw.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty })
        }
        knobs.socketDelayMilliseconds = try milliseconds("CH_SIM_SOCKET_DELAY_MS") ?? 0
        knobs.guestShutdownMilliseconds = try milliseconds("CH_SIM_GUEST_SHUTDOWN_MS") ?? 100
        if let path = environment("CH_SIM_REQUEST_LOG"), !path.isEmpty { knobs.requestLogPath = path }
        knobs.ignorePowerButton = environment("CH_SIM_IGNORE_POWER_BUTTON") == "1"
        knobs.userfaultfdAvailable = environment("CH_SIM_USERFAULTFD") != "0"
        knobs.lockDisks = environment("CH_SIM_DISK_LOCKS") != "0"
        knobs.resizeDropsRAM = environment("CH_SIM_RESIZE_DROPS_RAM") == "1"
        if let raw = environment("CH_SIM_GUEST_AGENT") {
            guard raw == "0" || raw == "1" else { throw Invalid(name: "CH_SIM_GUEST_AGENT", value: raw) }
            knobs.guestAgent = raw == "1"
        }
        if let raw = environment("CH_SIM_GUEST_AGENT_PORT") {
            guard isDecimal(raw), let port = UInt32(raw) else { throw Invalid(name: "CH_SIM_GUEST_AGENT_PORT", value: raw) }
            knobs.guestAgentPort = port
        }
        knobs.guestAgentDelayMilliseconds = try milliseconds("CH_SIM_GUEST_AGENT_DELAY_MS") ?? 0
        if let raw = environment("CH_SIM_GUEST_USED") {
            guard isDecimal(raw), let bytes = Int64(raw) else { throw Invalid(name: "CH_SIM_GUEST_USED", value: raw) }
            knobs.guestUsedBytes = bytes
        }
        for endpoint in Endpoints.getEndpoints.union(Endpoints.putEndpoints).union(Endpoints.unsupportedEndpoints) {
            knobs.knownDelays[endpoint] = delayMilliseconds(for: endpoint)
        }
        return knobs
    }

    /// The delay of `endpoint` (see `delayMilliseconds(for:)` below).
    func delayMilliseconds(for endpoint: String) -> Int {
        knownDelays[endpoint] ?? Self.delayMilliseconds(for: endpoint)
    }

    /// `CH_SIM_DELAY_MS_<ENDPOINT>` for an endpoint such as `vm.boot` (`CH_SIM_DELAY_MS_VM_BOOT`).
    static func delayMilliseconds(for endpoint: String) -> Int {
        let suffix = String(endpoint.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
        guard let raw = environment("CH_SIM_DELAY_MS_" + suffix), let ms = Int(raw), ms > 0 else { return 0 }
        return ms
    }

    /// Digits only: `Int("+5")` would accept a sign.
    private static func isDecimal(_ raw: String) -> Bool {
        !raw.isEmpty && raw.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func milliseconds(_ name: String) throws(Invalid) -> Int? {
        guard let raw = environment(name) else { return nil }
        guard let ms = Int(raw), ms >= 0 else { throw Invalid(name: name, value: raw) }
        return ms
    }
}
