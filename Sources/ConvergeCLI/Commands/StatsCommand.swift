import Foundation
import Reconciler
import Resources

/// `converge stats memory [NAME]`: the memory history the balloon loop recorded, as a
/// table (the latest samples), as JSON (every sample) or as an HTML page of charts.
/// Read-only: it never creates the state directory.
struct StatsCommand: Command {
    static let name = "stats"
    static let abstract = "memory history (allocated, used, balloon, reclaimed); --html writes a page of charts"
    static let arguments = "memory [NAME]"
    static let options = [
        OptionSpec("--html", value: "FILE", "write one self-contained HTML page with SVG charts to FILE"),
        OptionSpec("--since", value: "DURATION", "only samples of the last DURATION (e.g. 30m, 6h, 168h; default: all kept, 7 days)"),
        OptionSpec("--limit", value: "N", "table: the N most recent samples per sandbox (default 10); --json and --html give all"),
    ]

    var global: GlobalOptions
    var sandbox: String?
    var html: String?
    var since: Double?
    var limit: Int

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        html = try arguments.value("--html")
        since = try arguments.value("--since").map { try RunCommand.seconds($0, default: 0) }
        limit = try arguments.int("--limit") ?? 10
        let words = try arguments.positionals(min: 1, max: 2, usage: Self.usage)
        guard words[0] == "memory" else {
            throw UsageError("unknown statistic '\(words[0])' (known: memory)\nusage: \(Self.usage)")
        }
        sandbox = words.count > 1 ? words[1] : nil
    }

    func validate() throws {
        if html?.isEmpty == true { throw UsageError("--html needs a file name\nusage: \(Self.usage)") }
        if limit == 0 { throw UsageError("--limit must be at least 1\nusage: \(Self.usage)") }
    }

    func run() async throws {
        let store = try Wiring(global, access: .read).store
        let now = Clock.now
        let samples = try await store.memoryHistory(name: sandbox, since: since.map { now - $0 })
        if let sandbox, samples.isEmpty, try await !isKnown(sandbox, store) {
            let others = try await store.memoryHistoryNames()
            throw CLIError("no sandbox '\(sandbox)' is known to \(global.stateDirectory): it has no memory history, no spec and was not observed"
                           + (others.isEmpty ? "" : " (sandboxes with history: \(others.joined(separator: ", ")))")
                           + "; `converge get sandboxes` lists the sandboxes")
        }
        if let html {
            try write(MemoryDashboard.render(samples, generatedAt: now, scope: scope), to: html)
            print("wrote \(html): \(samples.count) samples of \(Set(samples.map(\.name)).count) sandboxes")
        } else if global.json {
            try Output.json(MemoryHistoryJSON(samples, sandbox: sandbox))
        } else {
            printTable(samples)
        }
    }

    // MARK: - Helpers

    /// A name with no samples (in the window) is still a sandbox if it has older samples,
    /// a spec names it or it was observed.
    private func isKnown(_ name: String, _ store: Store) async throws -> Bool {
        if try await store.memoryHistoryNames().contains(name) { return true }
        if try await store.specHeaders()[ResourceID(.sandbox, name)] != nil { return true }
        return try await store.observedSandboxes().contains { $0.name == name }
    }

    private var scope: String {
        (sandbox.map { "sandbox \($0)" } ?? "all sandboxes") + (since.map { ", last \(SpecDuration(milliseconds: Int64($0 * 1000)))" } ?? "")
    }

    private func printTable(_ samples: [MemorySample]) {
        guard !samples.isEmpty else {
            Output.progress("no memory samples\(sandbox.map { " of \($0)" } ?? "")\(since == nil ? "" : " in that time"): apply and run record them "
                            + "while a sandbox runs with a balloon (at most one every 5s per sandbox, kept 7 days)")
            return
        }
        let formatter = ISO8601DateFormatter()
        var rows: [[String]] = []
        var cut = 0
        for (_, own) in Dictionary(grouping: samples, by: \.name).sorted(by: { $0.key < $1.key }) {
            cut += max(0, own.count - limit)
            rows += own.suffix(limit).map {
                [$0.name, formatter.string(from: Date(timeIntervalSince1970: $0.at)), ByteUnits.human($0.allocated),
                 $0.used.map(ByteUnits.human) ?? "-", ByteUnits.human($0.balloon), ByteUnits.human($0.reclaimed)]
            }
        }
        Output.table(["NAME", "TIME", "ALLOCATED", "USED", "BALLOON", "RECLAIMED"], rows)
        if cut > 0 { Output.progress("(\(cut) older samples not shown: --limit N shows more, --json or --html all)") }
    }

    private func write(_ page: String, to path: String) throws {
        do {
            try Data(page.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CLIError("cannot write \(path): \((error as NSError).localizedDescription); give --html a file in a writable directory")
        }
    }
}

/// `stats memory --json`: every sample, grouped by sandbox. Times are unix seconds (UTC,
/// fractional); figures are bytes as integers; `usedBytes` is null when the guest did
/// not say. Every key is always present.
struct MemoryHistoryJSON: Encodable {
    struct Sandbox: Encodable {
        var name: String
        var samples: [Sample]
    }

    struct Sample: Encodable {
        var time: Double
        var allocatedBytes: Int64
        var usedBytes: Int64?
        var balloonBytes: Int64
        var reclaimedBytes: Int64

        func encode(to encoder: any Encoder) throws {
            enum Key: String, CodingKey { case time, allocatedBytes, usedBytes, balloonBytes, reclaimedBytes }
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(time, forKey: .time)
            try c.encode(allocatedBytes, forKey: .allocatedBytes)
            try c.encode(usedBytes, forKey: .usedBytes)  // null, not left out
            try c.encode(balloonBytes, forKey: .balloonBytes)
            try c.encode(reclaimedBytes, forKey: .reclaimedBytes)
        }
    }

    var sandboxes: [Sandbox]

    /// A named sandbox with no samples is listed with none, so a script sees it was asked.
    init(_ samples: [MemorySample], sandbox: String?) {
        var grouped = Dictionary(grouping: samples, by: \.name)
        if let sandbox, grouped[sandbox] == nil { grouped[sandbox] = [] }
        sandboxes = grouped.sorted { $0.key < $1.key }.map { name, own in
            Sandbox(name: name, samples: own.map {
                Sample(time: $0.at, allocatedBytes: $0.allocated, usedBytes: $0.used, balloonBytes: $0.balloon, reclaimedBytes: $0.reclaimed)
            })
        }
    }
}
