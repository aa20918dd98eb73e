import DaytonaBridge
import Dispatch
import Drivers
import Foundation
import Glibc
import Resources

/// `converge daytona DIR`: a Daytona runner that only writes desired state. Jobs (v2,
/// polled) or REST calls (v0, `--serve`) become spec files in DIR; `converge run DIR`
/// converges them; the bridge reports what the state directory's status files show.
struct DaytonaCommand: Command {
    static let name = "daytona"
    static let abstract = "bridge to the Daytona control plane: jobs → spec files in DIR, observed state → job results"
    static let arguments = "DIR"
    static let options = [
        OptionSpec("--api-url", value: "URL", "Daytona API URL including /api (default DAYTONA_API_URL)"),
        OptionSpec("--token-file", value: "FILE", "file holding the runner token (default: DAYTONA_RUNNER_TOKEN from the environment or --config)"),
        OptionSpec("--serve", value: "ADDR", "also serve the runner REST API (protocol v0) on HOST:PORT; alone, v0 only"),
    ]

    var global: GlobalOptions
    var directory: String
    var apiURL: String?
    var tokenFile: String?
    var serve: String?

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        apiURL = try arguments.value("--api-url")
        tokenFile = try arguments.value("--token-file")
        serve = try arguments.value("--serve")
        directory = try arguments.positionals(min: 1, max: 1, usage: Self.usage)[0]
    }

    func run() async throws {
        let config = try DaytonaConfig(global: global, apiURL: apiURL, tokenFile: tokenFile, serving: serve != nil)
        let secret = try config.token()
        // Defence in depth: no line this command prints can carry the token.
        let log: @Sendable (String) -> Void = { line in Log.line(secret.isEmpty ? line : line.replacingOccurrences(of: secret, with: "[token]")) }
        let specs = SpecDirectory(path: directory)
        try specs.prepare()
        let status = ObservedStatus(stateDirectory: global.stateDirectory)
        let executor = JobExecutor(directory: specs, status: status, linuxRuntime: config.linuxRuntime, failAfter: config.failAfter,
                                   version: CLI.version)
        var server: RunnerServer?
        if let serve {
            server = try RunnerServer(address: serve, token: config.token, executor: executor, status: status, version: CLI.version, log: log)
        }
        var v2: V2Runner?
        if let url = config.apiURL {
            var settings = V2Runner.Settings(version: CLI.version)
            settings.pollTimeout = config.pollTimeout
            settings.pollLimit = config.pollLimit
            settings.healthInterval = config.healthInterval
            settings.advertisedURL = server.map { "http://\($0.boundAddress)" }
            v2 = V2Runner(api: ControlPlane(baseURL: url, token: config.token), executor: executor, status: status, settings: settings, log: log)
            log("protocol v2: polling \(url) (timeout \(config.pollTimeout)s, limit \(config.pollLimit)); specs in \(directory); observed state from \(global.stateDirectory)")
        }
        if let server { log("protocol v0: serving the runner REST API on http://\(server.boundAddress)") }
        let signals = SignalStream([SIGTERM, SIGINT])
        defer { withExtendedLifetime(signals) {} }
        let stream = signals.stream
        await withTaskGroup(of: Void.self) { group in
            if let v2 { group.addTask { await v2.run() } }
            if let server { group.addTask { await server.run() } }
            group.addTask {
                for await number in stream {
                    log("signal \(number == SIGTERM ? "SIGTERM" : "SIGINT"): stopping; jobs in flight stay IN_PROGRESS and resume at the next start")
                    // A bound on shutdown: a transfer that ignores cancellation cannot hold the exit.
                    DispatchQueue.global().asyncAfter(deadline: .now() + 5) { exit(0) }
                    return
                }
            }
            _ = await group.next()
            group.cancelAll()
        }
        log("stopped")
    }
}

/// SIGTERM/SIGINT as an async sequence (DispatchSource; the default handlers are ignored).
final class SignalStream {
    let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init(_ numbers: [Int32]) {
        let (stream, sink) = AsyncStream.makeStream(of: Int32.self)
        self.stream = stream
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { sink.yield(number) }
            source.resume()
            return source
        }
    }

    deinit { sources.forEach { $0.cancel() } }
}
