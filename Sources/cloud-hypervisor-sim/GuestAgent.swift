/// The simulated guest agent: an HTTP/1.1 server inside the guest on one vsock port
/// (docs/guest-agent.md, section 2). It answers `GET /memory-stats` from `GuestMemory`.
struct GuestAgent: Sendable {
    /// The vsock port it listens on (`CH_SIM_GUEST_AGENT_PORT`, default 2280).
    var port: UInt32
    /// How long after the guest boots it starts listening (`CH_SIM_GUEST_AGENT_DELAY_MS`).
    var startDelayMilliseconds: Int
    /// The guest's used memory unless `usedFile` says otherwise (`CH_SIM_GUEST_USED`).
    var defaultUsed: Int64
    /// `SOCK.guest-used` beside the API socket, read on every request so a test can change the
    /// guest's use while it runs; nil with `--api-socket fd=N`.
    var usedFile: String?

    /// The `Server` header of its responses.
    static let serverName = "cloud-hypervisor-sim guest agent"

    /// Whether the agent listens on `port` now.
    ///
    /// - Parameter guestStartedAt: when the guest booted (monotonic ms), or nil for a restored
    ///   guest, whose agent was already running when the snapshot was taken.
    func isListening(on port: UInt32, guestStartedAt: Int64?, now: Int64) -> Bool {
        guard port == self.port else { return false }
        guard let guestStartedAt else { return true }
        return now - guestStartedAt >= Int64(startDelayMilliseconds)
    }

    /// Answers one request of a booted guest whose VM has `config`.
    func respond(to request: HTTPRequest, config: JSONValue) -> HTTPResponse {
        guard request.path == "/memory-stats" else { return HTTPResponse(status: 404, body: nil) }
        guard request.method == "GET" else { return HTTPResponse(status: 405, body: nil) }
        return HTTPResponse(status: 200, body: Array(GuestMemory(config: config, used: used()).json.utf8))
    }

    /// The guest's used memory: `usedFile` when it holds a decimal byte count (an optional
    /// trailing newline allowed), else `defaultUsed`.
    func used() -> Int64 {
        guard let usedFile, let bytes = try? Files.read(usedFile) else { return defaultUsed }
        var digits = bytes[...]
        if digits.last == UInt8(ascii: "\n") { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int64(String(decoding: digits, as: UTF8.self))
        else { return defaultUsed }
        return value
    }
}
