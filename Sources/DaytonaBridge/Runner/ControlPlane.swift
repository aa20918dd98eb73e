import Foundation

/// The control plane's answer was not a success.
public enum ControlPlaneError: Error, Sendable, CustomStringConvertible {
    /// An HTTP error answer; `message` is the body's `message` (never a header).
    case http(status: Int, operation: String, message: String)
    /// No answer at all.
    case transport(HTTPTransportError)
    /// A 2xx whose body is not what the reference says.
    case malformed(operation: String, reason: String)

    public var description: String {
        switch self {
        case .http(let status, let operation, let message): "\(operation): HTTP \(status): \(message)"
        case .transport(let e): "\(e)"
        case .malformed(let operation, let reason): "\(operation): unexpected answer: \(reason)"
        }
    }

    /// 4xx answers are not retried (reference §3.5): the same request would fail again.
    public var isClientError: Bool { if case .http(let s, _, _) = self { (400..<500).contains(s) } else { false } }
    public var isUnauthorized: Bool { if case .http(401, _, _) = self { true } else { false } }
}

/// The endpoints a v2 runner calls on the Daytona API (reference §3.3), with its auth
/// headers. The token is read through `token` on every request, so a rotated token file
/// is picked up without a restart; it appears in no error and no log line.
public struct ControlPlane: Sendable {
    /// `DAYTONA_API_URL`, including the `/api` prefix.
    public var baseURL: String
    var token: @Sendable () throws -> String
    var http = HTTPClient()

    public init(baseURL: String, token: @escaping @Sendable () throws -> String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
    }

    /// Maps to `GET /api/jobs/poll?timeout=&limit=`; a 408 is an empty answer (§3.4).
    func poll(timeout: Int, limit: Int) async throws -> [Daytona.Job] {
        let r = try await call("GET", "/jobs/poll?timeout=\(timeout)&limit=\(limit)", operation: "pollJobs", timeout: Double(timeout) + 15, accept408: true)
        if r.status == 408 { return [] }
        return try decode(Daytona.PollResponse.self, r, "pollJobs").jobs
    }

    /// Maps to `GET /api/jobs?status=IN_PROGRESS&page=&limit=100`: this runner's jobs to resume.
    func inProgressJobs() async throws -> [Daytona.Job] {
        var jobs: [Daytona.Job] = []
        var page = 1
        while true {
            let r = try await call("GET", "/jobs?status=IN_PROGRESS&page=\(page)&limit=100", operation: "listJobs", timeout: 30)
            let list = try decode(Daytona.JobPage.self, r, "listJobs")
            jobs += list.items
            guard let pages = list.totalPages, page < pages, !list.items.isEmpty else { return jobs }
            page += 1
        }
    }

    /// Maps to `POST /api/jobs/{id}/status`.
    func report(_ jobID: String, _ update: Daytona.UpdateJobStatus) async throws {
        let id = jobID.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_"))) ?? jobID
        _ = try await call("POST", "/jobs/\(id)/status", operation: "updateJobStatus", body: try JSONEncoder().encode(update), timeout: 30)
    }

    /// Maps to `POST /api/runners/healthcheck`.
    func healthcheck(_ body: Data) async throws {
        _ = try await call("POST", "/runners/healthcheck", operation: "runnerHealthcheck", body: body, timeout: 10)
    }

    private func call(_ method: String, _ path: String, operation: String, body: Data? = nil, timeout: Double,
                      accept408: Bool = false) async throws -> HTTPResponse {
        var headers = ["Authorization": "Bearer \(try token())", "X-Daytona-Source": "runner"]
        if body != nil { headers["Content-Type"] = "application/json" }
        let r: HTTPResponse
        do { r = try await http.send(method, baseURL + path, headers: headers, body: body, timeout: timeout) } catch let e as HTTPTransportError {
            throw ControlPlaneError.transport(e)
        }
        if (200..<300).contains(r.status) || (accept408 && r.status == 408) { return r }
        throw ControlPlaneError.http(status: r.status, operation: operation, message: Self.message(r.body))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ r: HTTPResponse, _ operation: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: r.body) } catch {
            throw ControlPlaneError.malformed(operation: operation, reason: JobTranslator.describe(error))
        }
    }

    /// The error body's `message` (a string, or NestJS's array of strings), cut short.
    static func message(_ body: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            return String(decoding: body.prefix(200), as: UTF8.self)
        }
        if let s = object["message"] as? String { return s }
        if let list = object["message"] as? [String] { return list.joined(separator: "; ") }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }
}
