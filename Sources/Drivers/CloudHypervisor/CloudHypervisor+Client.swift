import Foundation

extension CloudHypervisor {
    /// A client of one VMM's REST API on its Unix socket.
    public struct Client: Sendable {
        public let socketPath: String
        /// Deadline of quick calls; snapshot-sized calls pass their own.
        public var timeout: Double = 10
        /// Set inside `withConnection`: calls share one connection.
        private var session: UnixHTTP.Session?

        public init(socketPath: String, timeout: Double = 10) {
            self.socketPath = socketPath
            self.timeout = timeout
        }

        /// Runs `body` with a client whose calls share one connection (HTTP/1.1 keep-alive),
        /// closed when `body` ends: for a call and the check that follows it.
        public func withConnection<T>(_ body: (Client) async throws -> T) async throws -> T {
            var shared = self
            let session = UnixHTTP.Session(socket: socketPath)
            shared.session = session
            defer { session.close() }
            return try await body(shared)
        }

        // MARK: - VMM

        /// Maps to `GET /api/v1/vmm.ping`.
        public func ping(timeout: Double? = nil) async throws -> VmmPingResponse {
            try decode(VmmPingResponse.self, "vmm.ping", try await call("GET", "vmm.ping", timeout: timeout))
        }

        /// Maps to `PUT /api/v1/vmm.shutdown`: deletes the VM, then the process exits.
        public func shutdownVMM() async throws { _ = try await call("PUT", "vmm.shutdown") }

        // MARK: - VM

        /// Maps to `PUT /api/v1/vm.create`: stores the config; nothing runs yet.
        public func create(_ config: VmConfig) async throws { _ = try await call("PUT", "vm.create", body: config) }

        /// Maps to `PUT /api/v1/vm.boot`.
        public func boot() async throws { _ = try await call("PUT", "vm.boot") }

        /// Maps to `GET /api/v1/vm.info`.
        public func info(timeout: Double? = nil) async throws -> VmInfo {
            try decode(VmInfo.self, "vm.info", try await call("GET", "vm.info", timeout: timeout))
        }

        /// Maps to `GET /api/v1/vm.info`, decoding only what observation needs.
        public func infoSummary(timeout: Double? = nil) async throws -> VmInfoSummary {
            try decode(VmInfoSummary.self, "vm.info", try await call("GET", "vm.info", timeout: timeout))
        }

        /// Maps to `GET /api/v1/vm.info`, decoding only the balloon's configured size.
        public func balloonConfig(timeout: Double? = nil) async throws -> VmBalloonConfig {
            let body = try await call("GET", "vm.info", timeout: timeout)
            switch JSONPeek.integer(at: ["config", "balloon", "size"], in: body) {
            case .integer(let size): return VmBalloonConfig(config: .init(balloon: .init(size: size)))
            case .absent(depth: 1): return VmBalloonConfig(config: .init(balloon: nil))
            default: return try decode(VmBalloonConfig.self, "vm.info", body)
            }
        }

        /// Maps to `PUT /api/v1/vm.pause`.
        public func pause() async throws { _ = try await call("PUT", "vm.pause") }

        /// Maps to `PUT /api/v1/vm.resume`.
        public func resume() async throws { _ = try await call("PUT", "vm.resume") }

        /// Maps to `PUT /api/v1/vm.shutdown`: stops the guest; the config stays.
        public func shutdown() async throws { _ = try await call("PUT", "vm.shutdown") }

        /// Maps to `PUT /api/v1/vm.delete`.
        public func delete() async throws { _ = try await call("PUT", "vm.delete") }

        /// Maps to `PUT /api/v1/vm.resize`.
        public func resize(_ resize: VmResize) async throws { _ = try await call("PUT", "vm.resize", body: resize) }

        /// Maps to `PUT /api/v1/vm.snapshot`: writes the paused VM's state into `directory`.
        /// Writing memory takes as long as the memory is large: the deadline is the caller's.
        public func snapshot(into directory: String, timeout: Double) async throws {
            _ = try await call("PUT", "vm.snapshot", body: ["destination_url": "file://\(directory)"], timeout: timeout)
        }

        /// Maps to `PUT /api/v1/vm.restore` on a VMM without a VM; the VM comes back paused.
        /// - Parameter onDemand: map memory lazily through userfaultfd (`OnDemand`) instead of copying it.
        public func restore(from directory: String, onDemand: Bool, timeout: Double) async throws {
            _ = try await call("PUT", "vm.restore", body: RestoreConfig(source_url: "file://\(directory)", prefault: nil, resume: false,
                                                                        memory_restore_mode: onDemand ? "OnDemand" : "Copy"), timeout: timeout)
        }

        // MARK: - Transport

        private func call(_ method: String, _ endpoint: String, timeout: Double? = nil) async throws -> [UInt8] {
            try await call(method, endpoint, bodyBytes: nil, timeout: timeout)
        }

        private func call<B: Encodable>(_ method: String, _ endpoint: String, body: B, timeout: Double? = nil) async throws -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return try await call(method, endpoint, bodyBytes: Array(try encoder.encode(body)), timeout: timeout)
        }

        private func call(_ method: String, _ endpoint: String, bodyBytes: [UInt8]?, timeout: Double?) async throws -> [UInt8] {
            let response: HTTPResponse
            do {
                let target = "/api/v1/\(endpoint)", timeout = timeout ?? self.timeout
                if let session {
                    response = try await session.request(method: method, target: target, body: bodyBytes, timeout: timeout)
                } else {
                    response = try await UnixHTTP.request(socket: socketPath, method: method, target: target, body: bodyBytes, timeout: timeout)
                }
            } catch let error as UnixHTTPError {
                throw Error.transport(endpoint: endpoint, error)
            }
            guard (200..<300).contains(response.status) else {
                // CH's error body is a JSON array of strings, outermost first.
                let messages = (try? JSONDecoder().decode([String].self, from: Data(response.body)))
                    ?? [String(decoding: response.body, as: UTF8.self)].filter { !$0.isEmpty }
                throw Error.http(endpoint: endpoint, status: response.status, messages: messages)
            }
            return response.body
        }

        private func decode<T: Decodable>(_ type: T.Type, _ endpoint: String, _ body: [UInt8]) throws -> T {
            do { return try JSONDecoder().decode(type, from: Data(body)) } catch {
                throw Error.decoding(endpoint: endpoint, "\(error)")
            }
        }
    }
}
