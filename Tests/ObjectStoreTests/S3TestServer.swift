import Dispatch
import Foundation
import ObjectStore

/// A running Tools/s3-test-server (moto with signature checks on). Closing its stdin or
/// SIGTERM makes it stop moto; the stdin pipe also closes if this test process dies, so
/// moto cannot outlive the run.
final class S3TestServer: Sendable {
    struct Info: Decodable, Sendable {
        var endpoint: String
        var region: String
        var bucket: String
        var accessKeyID: String
        var secretAccessKey: String
        var pid: Int32
    }

    let info: Info
    private let process: Process
    private let stdin: Pipe

    var location: S3Location { S3Location(endpoint: info.endpoint, region: info.region, bucket: info.bucket) }
    var credentials: S3Credentials { S3Credentials(accessKeyID: info.accessKeyID, secretAccessKey: info.secretAccessKey) }

    struct StartFailed: Error, CustomStringConvertible {
        var description: String
    }

    private init(info: Info, process: Process, stdin: Pipe) {
        self.info = info
        self.process = process
        self.stdin = stdin
    }

    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tools/s3-test-server")
    }

    /// Runs `body` against a fresh server and stops the server afterwards, whether `body` threw or not.
    static func with<T>(bucket: String = "converge-test", partMinSize: Int? = nil,
                        _ body: (S3TestServer) async throws -> T) async throws -> T {
        let server = try await start(bucket: bucket, partMinSize: partMinSize)
        do {
            let value = try await body(server)
            server.stop()
            return value
        } catch {
            server.stop()
            throw error
        }
    }

    static func start(bucket: String, partMinSize: Int?) async throws -> S3TestServer {
        let process = Process()
        process.executableURL = script
        process.arguments = ["--bucket", bucket] + (partMinSize.map { ["--part-min-size", "\($0)"] } ?? [])
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        // The script bounds its own start (30 s) and exits on failure, which ends this read.
        let line = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                // read(2) directly: FileHandle traps on EINTR, which SIGCHLD from other tests' servers causes.
                let fd = stdout.fileHandleForReading.fileDescriptor
                var bytes = Data()
                var byte: UInt8 = 0
                while true {
                    let n = read(fd, &byte, 1)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 || byte == UInt8(ascii: "\n") { break }
                    bytes.append(byte)
                }
                continuation.resume(returning: bytes)
            }
        }
        guard let info = try? JSONDecoder().decode(Info.self, from: line) else {
            let server = S3TestServer(info: Info(endpoint: "", region: "", bucket: "", accessKeyID: "", secretAccessKey: "", pid: 0),
                                      process: process, stdin: stdin)
            server.stop()
            throw StartFailed(description: "s3-test-server printed no JSON line (exit \(process.terminationStatus))")
        }
        return S3TestServer(info: info, process: process, stdin: stdin)
    }

    /// Closes stdin (the script then stops moto by its pid) and waits for the script to exit.
    func stop() {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// True while moto's pid is alive (kill with signal 0 only asks).
    var motoAlive: Bool { info.pid > 0 && kill(info.pid, 0) == 0 }
}
