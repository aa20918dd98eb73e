import Foundation

/// Protocol v0: the runner REST API (reference §1.2) on the same model as v2. Each call
/// becomes the job it stands for, run by the same `JobExecutor`: `POST /sandboxes` answers
/// once the sandbox runs, as Daytona's runner does. Snapshot and backup routes answer 501.
public struct RunnerServer: Sendable {
    private let server: HTTPServer
    public var boundAddress: String { server.boundAddress }

    public init(address: String, token: @escaping @Sendable () throws -> String, executor: JobExecutor, status: ObservedStatus,
                version: String, log: @escaping @Sendable (String) -> Void) throws {
        let routes = RunnerRoutes(token: token, executor: executor, status: status, version: version, log: log)
        server = try HTTPServer(address: address) { await routes.handle($0) }
    }

    public func run() async { await server.run() }
}

/// The route table of `RunnerServer`.
struct RunnerRoutes: Sendable {
    var token: @Sendable () throws -> String
    var executor: JobExecutor
    var status: ObservedStatus
    var version: String
    var log: @Sendable (String) -> Void

    func handle(_ r: HTTPRequest) async -> HTTPReply {
        let parts = r.path.split(separator: "/").map(String.init)
        if r.method == "GET" && parts.isEmpty { return json(200, ["status": "ok", "version": version]) }
        if let denied = authorize(r) { return denied }
        switch (r.method, parts.first, parts.count) {
        case ("GET", "info", 1): return info()
        case ("GET", "metrics", 1): return HTTPReply(status: 200, contentType: "text/plain; version=0.0.4", body: Data(metrics().utf8))
        case ("POST", "sandboxes", 1): return await create(r)
        case ("GET", "sandboxes", 2): return json(200, V0State.info(status, name: parts[1].lowercased(), daemonVersion: executor.daemonVersion))
        case ("POST", "sandboxes", 3): return await action(r, id: parts[1], verb: parts[2])
        case (_, "snapshots", _): return error(r, 501, "NOT_IMPLEMENTED", "snapshot routes are not supported by the Converge runner yet (no registry support)")
        case (_, "sandboxes", 3...):
            return error(r, 501, "NOT_IMPLEMENTED", "\(parts[2]) is not supported by the Converge runner")
        default: return error(r, 404, "NOT_FOUND", "Cannot \(r.method) \(r.path)")
        }
    }

    /// Bearer auth as `apps/runner/pkg/api/middlewares/auth.go` does it.
    private func authorize(_ r: HTTPRequest) -> HTTPReply? {
        let header = r.headers["x-daytona-authorization"].flatMap { $0.isEmpty ? nil : $0 } ?? r.headers["authorization"] ?? ""
        guard !header.isEmpty else { return error(r, 401, "UNAUTHORIZED", "authorization header required") }
        let parts = header.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "Bearer" else { return error(r, 401, "UNAUTHORIZED", "invalid authorization header format") }
        guard let expected = try? token(), !expected.isEmpty, String(parts[1]) == expected else { return error(r, 401, "UNAUTHORIZED", "invalid token") }
        return nil
    }

    private func create(_ r: HTTPRequest) async -> HTTPReply {
        guard let dto = try? JSONDecoder().decode(Daytona.CreateSandboxDTO.self, from: r.body) else {
            return error(r, 400, "INVALID_REQUEST_BODY", "the body is not a CreateSandboxDTO (id, snapshot required)")
        }
        let job = Daytona.Job(id: "v0-create-\(dto.id)", type: .createSandbox, resourceId: dto.id, payload: String(decoding: r.body, as: UTF8.self))
        return await run(job, r, success: 201, body: ["daemonVersion": executor.daemonVersion])
    }

    private func action(_ r: HTTPRequest, id: String, verb: String) async -> HTTPReply {
        let body = r.body.isEmpty ? nil : String(decoding: r.body, as: UTF8.self)
        switch verb {
        case "destroy":
            return await run(Daytona.Job(id: "v0-destroy-\(id)", type: .destroySandbox, resourceId: id), r, success: 200, body: "Sandbox destroyed")
        case "start":
            // The route binds a JSON object of metadata: a body that is not one is a 400.
            guard (try? JSONSerialization.jsonObject(with: r.body)) is [String: Any] else {
                return error(r, 400, "INVALID_REQUEST_BODY", "the body must be a JSON object of metadata")
            }
            return await run(Daytona.Job(id: "v0-start-\(id)", type: .startSandbox, resourceId: id, payload: body), r, success: 200,
                             body: ["daemonVersion": executor.daemonVersion])
        case "stop":
            return await run(Daytona.Job(id: "v0-stop-\(id)", type: .stopSandbox, resourceId: id, payload: body), r, success: 200, body: "Sandbox stopped")
        case "resize":
            guard (try? JSONDecoder().decode(Daytona.ResizeSandboxDTO.self, from: r.body)) != nil else {
                return error(r, 400, "INVALID_REQUEST_BODY", "the body is not a ResizeSandboxDTO")
            }
            return await run(Daytona.Job(id: "v0-resize-\(id)", type: .resizeSandbox, resourceId: id, payload: body), r, success: 200, body: "Sandbox resized")
        default:
            return error(r, 501, "NOT_IMPLEMENTED", "\(verb) is not supported by the Converge runner")
        }
    }

    private func run(_ job: Daytona.Job, _ r: HTTPRequest, success: Int, body: some Encodable) async -> HTTPReply {
        let outcome: JobOutcome
        do { outcome = try await executor.run(job) } catch { return self.error(r, 500, "INTERNAL_SERVER_ERROR", "the runner is stopping") }
        switch outcome {
        case .completed: return json(success, body)
        case .failed(let message):
            log("v0 \(r.method) \(r.path): \(message)")
            let missing = message.contains("does not exist on this runner")
            return self.error(r, missing ? 404 : 500, missing ? "NOT_FOUND" : "INTERNAL_SERVER_ERROR", message)
        }
    }

    private func info() -> HTTPReply {
        let h = Healthcheck.collect(status, version: version, apiUrl: nil)
        let m = h.metrics
        let body: [String: Any] = [
            "serviceHealth": h.serviceHealth.map { s -> [String: Any] in
                var d: [String: Any] = ["serviceName": s.serviceName, "healthy": s.healthy]
                if let e = s.errorReason { d["errorReason"] = e }
                return d
            },
            "metrics": [
                "currentCpuLoadAverage": m.currentCpuLoadAverage, "currentCpuUsagePercentage": m.currentCpuUsagePercentage,
                "currentMemoryUsagePercentage": m.currentMemoryUsagePercentage, "currentDiskUsagePercentage": m.currentDiskUsagePercentage,
                "currentAllocatedCpu": m.currentAllocatedCpu, "currentAllocatedMemoryGiB": m.currentAllocatedMemoryGiB,
                "currentAllocatedDiskGiB": m.currentAllocatedDiskGiB, "currentSnapshotCount": m.currentSnapshotCount,
                "currentStartedSandboxes": m.currentStartedSandboxes,
            ],
            "appVersion": version,
        ]
        return HTTPReply(status: 200, body: (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data())
    }

    private func metrics() -> String {
        let m = Healthcheck.collect(status, version: version, apiUrl: nil).metrics
        return """
        # HELP converge_daytona_started_sandboxes Sandboxes observed running.
        # TYPE converge_daytona_started_sandboxes gauge
        converge_daytona_started_sandboxes \(m.currentStartedSandboxes)
        # HELP converge_daytona_allocated_cpus CPUs of running sandboxes.
        # TYPE converge_daytona_allocated_cpus gauge
        converge_daytona_allocated_cpus \(m.currentAllocatedCpu)
        # HELP converge_daytona_snapshots Snapshots observed.
        # TYPE converge_daytona_snapshots gauge
        converge_daytona_snapshots \(m.currentSnapshotCount)

        """
    }

    private func json(_ status: Int, _ value: some Encodable) -> HTTPReply {
        HTTPReply(status: status, body: Data(JobExecutor.json(value).utf8))
    }

    /// `ErrorResponse` of libs/common-go/pkg/errors/http.go.
    private func error(_ r: HTTPRequest, _ status: Int, _ code: String, _ message: String) -> HTTPReply {
        let body = V0Error(statusCode: status, message: message, code: code, timestamp: ISO8601DateFormatter().string(from: Date()),
                           path: r.path, method: r.method)
        return json(status, body)
    }
}

/// The runner's error body.
struct V0Error: Encodable {
    var statusCode: Int
    var message: String
    var code: String
    var timestamp: String
    var path: String
    var method: String
}
