import Drivers
import Foundation
import Resources

/// The bridge's settings: options first, then the host configuration (environment
/// winning over `--config`), named as Daytona's runner names them (CONTRACT §3).
struct DaytonaConfig: Sendable {
    var apiURL: String?
    var pollTimeout: Int
    var pollLimit: Int
    var healthInterval: Double
    var linuxRuntime: Runtime
    var failAfter: Double
    private var tokenFile: String?
    private var tokenValue: String?

    init(global: GlobalOptions, apiURL: String?, tokenFile: String?, serving: Bool) throws {
        let host: HostConfig
        do { host = try HostConfig.load(stateDirectory: Paths.absolute(global.stateDirectory), file: global.configFile) } catch let d as Diagnostic {
            throw CLIError(d.rendered(source: try? String(contentsOfFile: d.file, encoding: .utf8)))
        }
        self.apiURL = apiURL ?? host.values["DAYTONA_API_URL"]
        guard self.apiURL != nil || serving else { throw UsageError("no control plane: pass --api-url URL or set DAYTONA_API_URL (or --serve ADDR for protocol v0)") }
        self.tokenFile = tokenFile
        tokenValue = host.values["DAYTONA_RUNNER_TOKEN"]
        guard tokenFile != nil || tokenValue != nil else {
            throw UsageError("no runner token: pass --token-file FILE or set DAYTONA_RUNNER_TOKEN (never on the command line)")
        }
        pollTimeout = try Self.seconds(host, "POLL_TIMEOUT", default: 30, range: 1...60)
        pollLimit = try Self.integer(host, "POLL_LIMIT", default: 10, range: 1...100)
        healthInterval = Double(try Self.seconds(host, "HEALTHCHECK_INTERVAL", default: 30, range: 10...3600))
        failAfter = Double(try Self.seconds(host, "DAYTONA_FAIL_AFTER", default: 60, range: 0...3600))
        let runtime = host.values["DAYTONA_LINUX_RUNTIME"] ?? Runtime.cloudHypervisor.rawValue
        guard let r = Runtime(rawValue: runtime), r != .cuttlefish else {
            throw CLIError("host setting DAYTONA_LINUX_RUNTIME=\(runtime) must be cloud-hypervisor or qemu")
        }
        linuxRuntime = r
    }

    /// The token, read again on every call (a rotated file is picked up); never logged.
    /// - Throws: `CLIError` naming the file, never its contents.
    func token() throws -> String {
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else { throw CLIError("cannot read the token file \(tokenFile)") }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw CLIError("the token file \(tokenFile) is empty") }
            return token
        }
        return tokenValue ?? ""
    }

    /// A duration in whole seconds: `30`, `30s`, `1m` (Go's time.Duration spelling as the runner reads it).
    private static func seconds(_ host: HostConfig, _ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = host.values[name] else { return fallback }
        let value = Int(text) ?? SpecDuration(parsing: text).map { Int($0.milliseconds / 1000) }
        guard let value, range.contains(value) else {
            throw CLIError("host setting \(name)=\(text) must be a duration of \(range.lowerBound)s to \(range.upperBound)s")
        }
        return value
    }

    private static func integer(_ host: HostConfig, _ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = host.values[name] else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw CLIError("host setting \(name)=\(text) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }
}
