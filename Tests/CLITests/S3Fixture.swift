import Foundation
import Glibc

/// A real S3-compatible store on loopback for one test: `Tools/s3-test-server` starts
/// moto_server with signature checks on, makes a user, a key and a bucket, and stops it
/// (by its PID) when this fixture goes. moto's access log is kept, to count requests.
final class S3Fixture: @unchecked Sendable {
    let endpoint: String
    let bucket: String
    let accessKeyID: String
    let secretAccessKey: String
    let log: String
    private let process: Process
    private let input: Pipe

    init(bucket: String = "converge-test") throws {
        let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tools/s3-test-server").path
        log = "/tmp/cvg-s3-\(UUID().uuidString.prefix(8).lowercased()).log"
        process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--bucket", bucket, "--log", log]
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // The one line of JSON it prints once the store answers and is provisioned.
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        guard let json = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let endpoint = json["endpoint"] as? String,
              let key = json["accessKeyID"] as? String, let secret = json["secretAccessKey"] as? String else {
            process.terminate()
            throw HarnessError(message: "s3-test-server did not start: \(String(decoding: line, as: UTF8.self))")
        }
        self.endpoint = endpoint
        self.bucket = bucket
        self.accessKeyID = key
        self.secretAccessKey = secret
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: log)
    }

    /// The host settings that name this store (passed in the environment, so that no file
    /// under a state directory ever holds the secret).
    func environment(secret: String? = nil, partSize: String = "16Mi") -> [String: String] {
        ["AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": accessKeyID,
         "AWS_SECRET_ACCESS_KEY": secret ?? secretAccessKey, "AWS_DEFAULT_BUCKET": bucket,
         "CONVERGE_REGISTRY_PART_SIZE": partSize, "CONVERGE_REGISTRY_PARALLEL": "2"]
    }

    /// Keys under `prefix`, through awscli (not Converge's own client).
    func keys(under prefix: String) -> [String] {
        let run = aws(["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--output", "json"])
        guard let json = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any],
              let contents = json["Contents"] as? [[String: Any]] else { return [] }
        return contents.compactMap { $0["Key"] as? String }.sorted()
    }

    func aws(_ arguments: [String]) -> CLIHarness.Run {
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = secretAccessKey
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        return CLIHarness.exec([NetworkCleanup.tool("aws"), "--endpoint-url", endpoint] + arguments, environment: environment)
    }

    /// Lines of moto's access log (`"PUT /bucket/key?partNumber=3&uploadId=… HTTP/1.1" 200 -`).
    func requests() -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).filter { $0.contains("HTTP/1.1\"") }
    }
}
