/// The keys S3 signs with. `description` names the access key only, so a credential
/// interpolated into a log line or an error cannot leak the secret.
public struct S3Credentials: Sendable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Temporary credentials (STS) need it; sent as x-amz-security-token when set.
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String {
        "access key \(accessKeyID) (secret hidden\(sessionToken == nil ? "" : ", session token hidden"))"
    }
}

/// Where objects live: the endpoint URL, the region the signature is scoped to, and the bucket.
public struct S3Location: Sendable, Equatable {
    /// e.g. "http://127.0.0.1:5123" or "https://s3.eu-west-1.amazonaws.com"; a trailing slash is ignored.
    public var endpoint: String
    /// Signatures are scoped to a region; S3 rejects an empty one, so it defaults to us-east-1.
    public var region: String
    public var bucket: String

    public init(endpoint: String, region: String, bucket: String) {
        self.endpoint = endpoint
        self.region = region.isEmpty ? "us-east-1" : region
        self.bucket = bucket
    }
}

/// How often and how patiently a retryable failure (5xx, 429, no answer) is tried again.
public struct S3RetryPolicy: Sendable {
    /// Total tries for a retryable failure, the first one included.
    public var attempts: Int = 4
    /// Seconds before the second try; doubled for each later one, ±25 % jitter, capped at 5 s.
    public var baseDelay: Double = 0.2

    public init(attempts: Int = 4, baseDelay: Double = 0.2) {
        self.attempts = attempts
        self.baseDelay = baseDelay
    }

    /// Seconds to wait after failed try number `attempt` (1-based). Jitter spreads the retries
    /// of many parallel part uploads so they do not hit a throttled endpoint in lockstep.
    func delay(afterAttempt attempt: Int) -> Double {
        let exponential = baseDelay * Double(1 << min(max(attempt - 1, 0), 20))
        return min(exponential * Double.random(in: 0.75...1.25), 5)
    }
}

/// One object as HEAD and ListObjectsV2 describe it.
public struct S3ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Without the quotes S3 puts around it.
    public var etag: String

    public init(key: String, size: Int64, etag: String) {
        self.key = key
        self.size = size
        self.etag = etag
    }
}
