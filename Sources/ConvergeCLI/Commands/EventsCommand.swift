import Foundation
import Reconciler
import Resources

/// `converge events [KIND/NAME | NAME]`: recent events from the database. `KIND/NAME`
/// names one resource; a bare NAME matches every kind (each line shows the kind).
struct EventsCommand: Command {
    static let name = "events"
    static let abstract = "recent events, of one resource when KIND/NAME (or NAME) is given"
    static let arguments = "[KIND/NAME | NAME]"
    static let options = [OptionSpec("--limit", value: "N", "at most N events, the most recent (default 100)")]

    var global: GlobalOptions
    var kind: ResourceKind?
    var resourceName: String?
    var limit: Int

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        limit = try arguments.int("--limit") ?? 100
        guard let word = try arguments.positionals(min: 0, max: 1, usage: Self.usage).first else { return }
        if let slash = word.firstIndex(of: "/") {
            let kindWord = String(word[..<slash])
            guard let kind = ResourceKind(argument: kindWord) else {
                throw UsageError("unknown kind '\(kindWord)' (known: \(ResourceKind.allCases.map(\.rawValue).joined(separator: ", ")))\nusage: \(Self.usage)")
            }
            self.kind = kind
            resourceName = String(word[word.index(after: slash)...])
            guard resourceName?.isEmpty == false else { throw UsageError("usage: \(Self.usage)") }
        } else {
            resourceName = word
        }
    }

    func run() async throws {
        let store = try Wiring(global, access: .read).store
        let events = try await store.events(kind: kind, name: resourceName, limit: limit)
        if global.json {
            struct EventJSON: Encodable {
                var time: Double
                var kind: String
                var name: String
                var type: String
                var reason: String
                var message: String
            }
            try Output.json(events.map { EventJSON(time: $0.at, kind: $0.id.kind.rawValue, name: $0.id.name, type: $0.type.rawValue, reason: $0.reason, message: $0.message) })
            return
        }
        let formatter = ISO8601DateFormatter()
        Output.table(["TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"], events.map {
            [formatter.string(from: Date(timeIntervalSince1970: $0.at)), $0.type.rawValue, $0.reason, $0.id.description, $0.message]
        })
    }
}
