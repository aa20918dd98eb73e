import Reconciler
import Resources

/// `converge status`: every resource, desired vs observed, and what is not ready.
struct StatusCommand: Command {
    static let name = "status"
    static let abstract = "desired vs observed for every resource, with conditions"
    static let arguments = ""

    var global: GlobalOptions

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        _ = try arguments.positionals(min: 0, max: 0, usage: Self.usage)
    }

    func run() async throws {
        let wiring = try Wiring(global, access: .read)
        let rows = try await StatusRows.collect(wiring, kinds: ResourceKind.allCases)
        let interrupted = try await wiring.store.unfinishedSteps()
        if global.json {
            struct Report: Encodable {
                var stateDirectory: String
                var resources: [StatusRow]
                var unfinishedJournalSteps: Int
            }
            try Output.json(Report(stateDirectory: global.stateDirectory, resources: rows, unfinishedJournalSteps: interrupted))
            return
        }
        print("State directory: \(global.stateDirectory)")
        for kind in ResourceKind.allCases {
            let ofKind = rows.filter { $0.kind == kind.rawValue }
            guard !ofKind.isEmpty else { continue }
            let ready = ofKind.filter { $0.ready == "True" }.count
            print("\(kind.rawValue): \(ofKind.count) (\(ready) ready)")
            for row in ofKind where row.ready != "True" {
                let message = row.conditions.first { $0.type == "Degraded" && $0.status == "True" }?.message
                    ?? row.conditions.first { $0.type == "Ready" }?.message ?? ""
                print("  \(row.name): \(row.reason)\(message.isEmpty ? "" : " — \(message)")")
            }
        }
        if rows.isEmpty { print("Nothing applied yet: run converge apply DIR") }
        if interrupted > 0 { print("\(interrupted) journal step(s) were interrupted (a crash); the next apply converges from what is on the host") }
    }
}
