import Foundation

/// An S3-compatible object-store client: path-style URLs, SigV4 header auth, libcurl with
/// keep-alive. Retryable failures (5xx, 429, no answer) are retried per `S3RetryPolicy`;
/// denials and other 4xx are not.
public struct S3Client: Sendable {
    public let location: S3Location
    let signer: SigV4Signer
    let retry: S3RetryPolicy
    let endpoint: Endpoint?
    let transport = CurlTransport()
    /// Called before every HTTP attempt with the method and path; tests count tries with it.
    var observeAttempt: (@Sendable (_ method: String, _ path: String) -> Void)?
    /// max-keys / max-parts for listings; nil leaves S3's 1000. Tests lower it to exercise paging.
    var pageSize: Int?

    public init(location: S3Location, credentials: S3Credentials, retry: S3RetryPolicy = S3RetryPolicy()) {
        var location = location
        if location.region.isEmpty { location.region = "us-east-1" }
        self.location = location
        self.signer = SigV4Signer(credentials: credentials, region: location.region)
        self.retry = retry
        self.endpoint = Endpoint(location.endpoint)
    }

    /// SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE.
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// One S3 operation as the retry loop sees it.
    struct Call: Sendable {
        var method: String
        var key: String?
        var query: [(name: String, value: String)] = []
        var headers: [String: String] = [:]
        var body = Data()
        /// The body's SHA-256 when the caller has it already (a part it hashed for its manifest).
        var payloadSHA256: String?
        var sink = ResponseSink.memory
        /// Names the object in a notFound error.
        var errorKey: String
        /// Extra checks on a 2xx answer (an <Error> body in a 200, a Range the server ignored).
        var check: (@Sendable (HTTPResult) -> S3Error?)?
    }

    /// Signs and sends `call`, retrying what may succeed next time; a non-2xx answer becomes an S3Error.
    func perform(_ call: Call) async throws -> HTTPResult {
        guard let endpoint else {
            throw S3Error.rejected(status: 0, code: "InvalidEndpoint",
                                   message: "the endpoint \(location.endpoint) is not an http:// or https:// URL")
        }
        let path = endpoint.path(bucket: location.bucket, key: call.key)
        let url = endpoint.url(path: path, query: call.query)
        let payloadHash = call.body.isEmpty ? Self.emptySHA256 : (call.payloadSHA256 ?? Digests.sha256Hex(call.body))
        let attempts = max(1, retry.attempts)
        var attempt = 1
        while true {
            let error: S3Error
            do {
                let signed = signer.sign(method: call.method, host: endpoint.hostHeader, path: path, query: call.query,
                                         headers: call.headers, payloadSHA256: payloadHash, date: Date())
                let request = HTTPRequest(method: call.method, url: url, headers: call.headers.merging(signed) { $1 }, body: call.body)
                observeAttempt?(call.method, path)
                let result = try await transport.send(request, sink: call.sink)
                if let failure = answerError(result, call: call) { error = failure } else { return result }
            } catch let failure as TransferFailure {
                switch failure {
                case .transport(let reason, let retryable):
                    error = .transport(reason: reason)
                    if !retryable { throw error }
                case .localWrite(let reason):
                    throw S3Error.transport(reason: "writing \(call.errorKey) to the local file failed: \(reason)")
                case .overflow(let limit):
                    throw S3Error.rejected(status: 200, code: "RangeIgnored",
                                           message: "the answer for \(call.errorKey) is longer than the \(limit) bytes asked for")
                case .cancelled:
                    throw CancellationError()
                }
            }
            guard error.isRetryable, attempt < attempts else { throw error }
            try await Task.sleep(for: .seconds(retry.delay(afterAttempt: attempt)))
            attempt += 1
        }
    }

    /// nil for a good answer; otherwise the error its status and <Error> body describe.
    private func answerError(_ result: HTTPResult, call: Call) -> S3Error? {
        if (200..<300).contains(result.status) { return call.check?(result) }
        let xml = XMLScan(String(decoding: result.body, as: UTF8.self))
        return S3Error.classify(status: result.status, code: xml.first("Code"), message: xml.first("Message").map(scrub),
                                key: call.errorKey).withRequestID(result.headers["x-amz-request-id"])
    }

    /// Caps a server message and removes anything secret it might echo back.
    func scrub(_ message: String) -> String {
        var text = String(message.prefix(500))
        let secrets = [signer.credentials.secretAccessKey, signer.credentials.sessionToken ?? ""].filter { $0.count >= 4 }
        for secret in secrets { text = text.replacingOccurrences(of: secret, with: "<hidden>") }
        return text
    }

    /// An <Error> document inside a 2xx answer (CompleteMultipartUpload does this) as an error.
    func embeddedError(_ result: HTTPResult, key: String) -> S3Error? {
        let text = String(decoding: result.body, as: UTF8.self)
        guard text.contains("<Error>") else { return nil }
        let xml = XMLScan(text)
        let code = xml.first("Code") ?? "InternalError"
        // The status is 200; pick the one the code implies so retrying follows the usual rules.
        let status = switch code {
        case "InternalError", "ServiceUnavailable", "SlowDown": 500
        case "NoSuchUpload", "NoSuchKey", "NoSuchBucket": 404
        default: 400
        }
        return S3Error.classify(status: status, code: code, message: xml.first("Message").map(scrub), key: key)
    }
}

extension S3Error {
    /// Appends S3's request id to the message, which is what AWS support asks for.
    func withRequestID(_ id: String?) -> S3Error {
        guard let id, !id.isEmpty else { return self }
        switch self {
        case .denied(let code, let message): return .denied(code: code, message: "\(message) (request \(id))")
        case .server(let status, let code, let message): return .server(status: status, code: code, message: "\(message) (request \(id))")
        case .rejected(let status, let code, let message): return .rejected(status: status, code: code, message: "\(message) (request \(id))")
        default: return self
        }
    }
}
