import ObjectStore
import Resources

/// The snapshot registry's store, from host configuration under the runners' names
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_DEFAULT_BUCKET`), and how transfers are cut up.
public struct RegistryConfig: Sendable {
    public var location: S3Location
    public var credentials: S3Credentials
    /// Bytes per multipart part (`CONVERGE_REGISTRY_PART_SIZE`, default 16Mi; S3 wants ≥ 5Mi).
    public var partSize: Int64
    /// Parts in flight at once (`CONVERGE_REGISTRY_PARALLEL`, default 4). A transfer holds
    /// at most (parallel + 1) × part size in memory, whatever the file's size.
    public var parallel: Int

    /// What records and messages call the store: endpoint and bucket, never a credential.
    public var storeName: String { "\(location.endpoint)/\(location.bucket)" }

    /// nil when no bucket is configured (the host has no registry).
    /// - Throws: `HostConfigError` for a half-configured or malformed registry.
    public static func load(from host: HostConfig) throws -> RegistryConfig? {
        let values = host.values
        guard let bucket = values["AWS_DEFAULT_BUCKET"] else { return nil }
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] where values[name] == nil {
            throw HostConfigError(name: name, value: "(unset)", expected: "set, since AWS_DEFAULT_BUCKET names a snapshot registry")
        }
        let region = values["AWS_REGION"] ?? "us-east-1"
        var endpoint = values["AWS_ENDPOINT_URL"] ?? "https://s3.\(region).amazonaws.com"
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw HostConfigError(name: "AWS_ENDPOINT_URL", value: endpoint, expected: "an http:// or https:// URL")
        }
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        var partSize: Int64 = 16 << 20
        if let text = values["CONVERGE_REGISTRY_PART_SIZE"] {
            guard let q = Quantity(parsing: text), q.bytes >= 5 << 20, q.bytes <= 5 << 30 else {
                throw HostConfigError(name: "CONVERGE_REGISTRY_PART_SIZE", value: text, expected: "a size from 5Mi to 5Gi (S3's part limits)")
            }
            partSize = q.bytes
        }
        var parallel = 4
        if let text = values["CONVERGE_REGISTRY_PARALLEL"] {
            guard let n = Int(text), (1...64).contains(n) else {
                throw HostConfigError(name: "CONVERGE_REGISTRY_PARALLEL", value: text, expected: "an integer in 1...64")
            }
            parallel = n
        }
        return RegistryConfig(location: S3Location(endpoint: endpoint, region: region, bucket: bucket),
                              credentials: S3Credentials(accessKeyID: values["AWS_ACCESS_KEY_ID"]!, secretAccessKey: values["AWS_SECRET_ACCESS_KEY"]!,
                                                         sessionToken: values["AWS_SESSION_TOKEN"]),
                              partSize: partSize, parallel: parallel)
    }
}
