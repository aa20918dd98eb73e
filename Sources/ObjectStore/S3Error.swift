/// What went wrong talking to S3. Built only from the status, the error body's Code and
/// Message and libcurl's reason, so `description` never holds a secret, a signature or an
/// Authorization header (the client also scrubs the secret out of server messages).
public enum S3Error: Error, Sendable, CustomStringConvertible, Equatable {
    /// 403, or an authentication code: retrying cannot help, so it is never retried.
    case denied(code: String, message: String)
    /// 404: NoSuchKey, NoSuchBucket, NoSuchUpload.
    case notFound(key: String, code: String)
    /// 5xx or 429 that outlasted the retries.
    case server(status: Int, code: String, message: String)
    /// Any other refusal (4xx, unexpected answers): the request itself is wrong, so not retried.
    case rejected(status: Int, code: String, message: String)
    /// No HTTP answer at all (refused, reset, timed out) after the retries ran out.
    case transport(reason: String)
    case checksumMismatch(key: String, expected: String, actual: String)

    /// Codes that mean the credentials are wrong whatever the status says.
    static let deniedCodes: Set<String> = ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
                                           "InvalidToken", "RequestTimeTooSkewed"]

    public var isRetryable: Bool {
        switch self {
        case .server, .transport: true
        case .denied, .notFound, .rejected, .checksumMismatch: false
        }
    }

    public var description: String {
        switch self {
        case .denied(let code, let message):
            let hint = code == "ExpiredToken" || code == "InvalidToken"
                ? "check AWS_SESSION_TOKEN" : "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            return "S3 denied the request (\(code)): \(message); \(hint)"
        case .notFound(let key, let code):
            switch code {
            case "NoSuchBucket": return "S3 has no such bucket (NoSuchBucket) for \(key)"
            case "NoSuchUpload": return "S3 has no such multipart upload (NoSuchUpload) for \(key)"
            default: return "S3 has no object \(key) (\(code))"
            }
        case .server(let status, let code, let message):
            return "S3 failed with \(status) (\(code)): \(message); gave up after retrying"
        case .rejected(let status, let code, let message):
            return "S3 rejected the request with \(status) (\(code)): \(message)"
        case .transport(let reason):
            return "S3 could not be reached: \(reason)"
        case .checksumMismatch(let key, let expected, let actual):
            return "the bytes of \(key) have SHA-256 \(actual), expected \(expected)"
        }
    }

    /// Sorts a non-2xx answer (or a 200 carrying an <Error> body) into a case.
    static func classify(status: Int, code: String?, message: String?, key: String) -> S3Error {
        let message = message ?? ""
        if status == 403 || deniedCodes.contains(code ?? "") {
            return .denied(code: code ?? "AccessDenied", message: message.isEmpty ? "HTTP 403" : message)
        }
        if status == 404 { return .notFound(key: key, code: code ?? "NotFound") }
        if status >= 500 || status == 429 { return .server(status: status, code: code ?? "HTTP\(status)", message: message) }
        return .rejected(status: status, code: code ?? "HTTP\(status)", message: message)
    }
}
