import Foundation

extension CloudHypervisor {
    /// The agent inside a guest, reached through the VM's hybrid vsock socket
    /// (docs/guest-agent.md): the only source of the guest's memory use, which CH does not
    /// expose.
    public struct GuestAgent: Sendable {
        /// The VM's vsock socket (`VmConfig.vsock.socket`).
        public let socketPath: String
        /// The vsock port the agent listens on in the guest (`CH_GUEST_AGENT_PORT`).
        public let port: UInt32
        public var timeout: Double = 1

        public init(socketPath: String, port: UInt32, timeout: Double = 1) {
            self.socketPath = socketPath
            self.port = port
            self.timeout = timeout
        }

        /// `GET /memory-stats`: `MemTotal` and `MemAvailable` of the guest, in bytes.
        public struct Memory: Decodable, Sendable, Equatable {
            public var total: Int64
            public var available: Int64
        }

        public func memory() async throws -> Memory {
            let response = try await UnixHTTP.request(socket: socketPath, method: "GET", target: "/memory-stats", body: nil,
                                                      timeout: timeout, vsockPort: port)
            guard response.status == 200 else {
                throw Error.http(endpoint: "guest agent /memory-stats", status: response.status,
                                 messages: [String(decoding: response.body.prefix(200), as: UTF8.self)])
            }
            do { return try JSONDecoder().decode(Memory.self, from: Data(response.body)) } catch {
                throw Error.decoding(endpoint: "guest agent /memory-stats", "\(error)")
            }
        }
    }
}
