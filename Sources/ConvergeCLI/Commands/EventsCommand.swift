import Foundation
import Reconciler

/// `converge events [NAME]`: recent events from the database.
struct EventsCommand: Command {
    static let name = "events"
    static let abstract = "recent events, of one resource when NAME is given"
    static let usage = "converge events [NAME] [--limit N] [--json]"

    var global: GlobalOptions
    var resourceName: String?
    var limit: Int

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        limit = try arguments.int("--limit") ?? 100
        resourceName = try arguments.positionals(min: 0, max: 1, usage: Self.usage).first
    }

    func run() async throws {
        let store = try Wiring(global).store
        let events = try await store.events(name: resourceName, limit: limit)
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
