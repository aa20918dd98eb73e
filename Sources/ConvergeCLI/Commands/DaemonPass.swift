import Drivers
import Foundation
import Reconciler
import Resources

/// One pass of `converge run`: load the specs, apply, then write what readers of the daemon
/// rely on (status files, then metrics). `converge bench scale` times the same pass.
struct DaemonPass {
    let wiring: Wiring
    let status: StatusFiles
    let metrics: Metrics
    private let lastRows = LastStatusRows()

    init(wiring: Wiring, stateDirectory: String) {
        self.wiring = wiring
        status = StatusFiles(directory: "\(stateDirectory)/status", spares: "\(stateDirectory)/.status-spare")
        metrics = Metrics(path: "\(stateDirectory)/metrics/converge.prom")
    }

    func run(_ directory: String, options: ApplyOptions, started: Date = Date(),
             progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }) async throws -> (SpecSet, ApplyReport) {
        let loading = Date()
        let specs = try SpecReading.load(directory)
        let loaded = Date()
        var report = try await wiring.reconciler.apply(specs, options: options, progress: progress)
        let writing = Date()
        // Status files first: the metrics' "converged" must not run ahead of them.
        // An idle pass changes neither the stored specs and conditions nor what it observed:
        // its rows are the last pass's, already written.
        let version = await wiring.store.specsAndConditionsVersion
        if !lastRows.hold(version: version, observed: report.observed) {
            let rows = try await StatusRows.collect(wiring, kinds: ResourceKind.allCases, observed: report.observed)
            try status.write(rows)
            lastRows.remember(version: version, observed: report.observed)
        }
        var phases = PhaseTimes()
        phases.add("load specs", seconds: loaded.timeIntervalSince(loading))
        for (phase, seconds) in report.phases.seconds { phases.add(phase, seconds: seconds) }
        phases.add("status files", seconds: Date().timeIntervalSince(writing))
        report.phases = phases
        metrics.record(report, seconds: Date().timeIntervalSince(started), specsValid: specs.isValid)
        // A pass frees most of what it allocated, across the threads' malloc arenas; give it
        // back, or the daemon's resident size creeps up over hours of churn.
        ProcessMemory.giveBackFreed()
        return (specs, report)
    }
}

/// What the status files were last written from: the store's version of its specs and
/// conditions, and the observed state.
final class LastStatusRows: @unchecked Sendable {
    private var version: Int?
    private var observed: ObservedState?

    /// True when rows from these inputs are the ones written last.
    func hold(version: Int, observed: ObservedState) -> Bool {
        self.version == version && self.observed == observed
    }

    func remember(version: Int, observed: ObservedState) {
        self.version = version
        self.observed = observed
    }
}

/// One JSON file per resource under STATE/status/KIND/NAME.json, written atomically, for
/// readers such as the Daytona API; files of resources that are gone are removed.
///
/// A file whose contents did not change since this process wrote it is not written again:
/// an idle daemon would otherwise rewrite a thousand files every pass.
final class StatusFiles: @unchecked Sendable {
    let directory: String
    /// STATE/.status-spare/KIND/NAME.json: each file's previous content, rewritten and
    /// traded with it at the next change (`AtomicFile.replace`). Only a cache.
    let spares: String
    /// What this process last wrote, by path; nil until the first write, which also
    /// removes files that earlier processes left for resources that are gone.
    private var written: [String: StatusRow]?

    init(directory: String, spares: String) {
        self.directory = directory
        self.spares = spares
    }

    func write(_ rows: [StatusRow]) throws {
        let before = written
        if before == nil { try? FileManager.default.removeItem(atPath: spares) }
        var now: [String: StatusRow] = [:]
        var changed: [(path: String, spare: String, row: StatusRow)] = []
        var made: Set<String> = []
        for row in rows {
            let path = "\(directory)/\(row.kind)/\(row.name).json"
            now[path] = row
            if before?[path] == row { continue }
            if made.insert(row.kind).inserted {
                for dir in ["\(directory)/\(row.kind)", "\(spares)/\(row.kind)"] {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                }
            }
            changed.append((path, "\(spares)/\(row.kind)/\(row.name).json", row))
        }
        try Self.writeAll(changed)
        written = now
        if let before {
            for path in before.keys where now[path] == nil {
                try? FileManager.default.removeItem(atPath: path)
                try? FileManager.default.removeItem(atPath: spares + path.dropFirst(directory.count))
            }
            return
        }
        for kind in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            for file in (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(kind)")) ?? []
            where now["\(directory)/\(kind)/\(file)"] == nil {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(kind)/\(file)")
            }
        }
    }

    /// Encodes the files on every core, then writes them one after the other: a balloon
    /// pass changes a thousand rows. (Writers in parallel only spin on the directory's lock.)
    /// - Throws: the first failure; the files written before it stay (each is whole).
    private static func writeAll(_ files: [(path: String, spare: String, row: StatusRow)]) throws {
        let texts = try ParallelJSON.encode(files.map(\.row), formatting: [.prettyPrinted, .sortedKeys])
        for (file, data) in zip(files, texts) {
            try AtomicFile.replace(data, at: file.path, spare: file.spare)
        }
    }
}
