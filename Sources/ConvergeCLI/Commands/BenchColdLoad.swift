import Drivers
import Foundation
import Reconciler
import Resources

/// `converge bench cold`: generated specs loaded, validated and planned against an empty
/// host, every file parsed each round, in a process configured as a one-shot command is
/// (`converge apply`, `plan`, `validate`: `ProcessMemory.keepArenaTops`). `bench scale` runs
/// it as a child process, so that its own process keeps the daemon's configuration for the
/// daemon's passes it times.
struct ColdLoadBenchmark {
    var specCount: Int
    var perFile: Int
    var rounds: Int
    /// Where the specs are written (and left).
    var directory: String

    /// Each round's times, in seconds.
    struct Times: Codable {
        var load: [Double]
        var plan: [Double]
    }

    /// Measures in this process.
    func measure() throws -> Times {
        ProcessMemory.keepArenaTops()
        try BenchSpecs.write(count: specCount, perFile: perFile, to: directory)
        var times = Times(load: [], plan: [])
        for _ in 0..<rounds {
            SpecLoader.forgetParsedFiles()
            let start = TimedChild.monotonic()
            let specs = try SpecLoader.load(directory: directory)
            let loaded = TimedChild.monotonic()
            _ = Planner.plan(desired: specs.resources, observed: ObservedState(), defaults: HostDefaults())
            times.load.append(loaded - start)
            times.plan.append(TimedChild.monotonic() - loaded)
            guard specs.isValid, specs.resources.count == specCount + 2 else { throw CLIError("generated specs did not validate") }
        }
        return times
    }

    /// Measures in a child process of this executable.
    func measureInChild() throws -> Times {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let run = try Spawn.runToCompletion([exe, "bench", "cold", "--specs", "\(specCount)", "--per-file", "\(perFile)",
                                             "--rounds", "\(rounds)", "--keep", directory, "--json"])
        guard run.status == 0 else { throw CLIError("converge bench cold exited \(run.status): \(run.stderr)") }
        do {
            return try JSONDecoder().decode(Times.self, from: Data(run.stdout.utf8))
        } catch {
            throw CLIError("converge bench cold printed no figures: \(run.stdout.prefix(200))")
        }
    }

    /// `converge bench cold`'s output.
    static func print(_ times: Times, specCount: Int, json: Bool) throws {
        if json { try Output.json(times); return }
        let total = zip(times.load, times.plan).map { $0 + $1 }
        try BenchReport(benchmark: "cold load", count: specCount, rounds: total.count, figures: [
            .init("load + validate \(specCount) specs, every file parsed", times.load),
            .init("plan against an empty host", times.plan),
            .init("load + validate + plan", total),
        ], peakRSSKiB: BenchReport.peakRSS()).print(json: false)
    }
}
