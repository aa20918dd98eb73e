import Foundation

/// The JSON of recorded observations, encoded once per version of what rarely changes.
///
/// A balloon pass changes one thing in a thousand observations: each guest's balloon. The
/// rest of each observation (config, process, slot, disk chain, …) is the text written
/// last time, so that text is kept, by sandbox name with the value it encodes, and only
/// the small balloon is encoded and spliced in. `JSONDecoder` reads the key wherever it is.
struct ObservationJSON {
    /// By sandbox name: an observation without its balloon, and its JSON.
    private var bases: [String: (value: ObservedSandbox, json: String)] = [:]

    /// Each observation's JSON, in order.
    mutating func encode(_ sandboxes: [ObservedSandbox]) throws -> [String] {
        let stripped = sandboxes.map { sandbox in
            var base = sandbox
            base.balloon = nil
            return base
        }
        let stale = stripped.indices.filter { bases[stripped[$0].name]?.value != stripped[$0] }
        for (i, json) in zip(stale, try ParallelJSON.encode(stale.map { stripped[$0] })) {
            bases[stripped[i].name] = (stripped[i], String(decoding: json, as: UTF8.self))
        }
        let ballooned = sandboxes.indices.filter { sandboxes[$0].balloon != nil }
        var balloons: [String?] = Array(repeating: nil, count: sandboxes.count)
        for (i, json) in zip(ballooned, try ParallelJSON.encode(ballooned.map { sandboxes[$0].balloon! })) {
            balloons[i] = String(decoding: json, as: UTF8.self)
        }
        return sandboxes.indices.map { i in
            let base = bases[sandboxes[i].name]!.json
            return balloons[i].map { Self.splice(key: "balloon", value: $0, into: base) } ?? base
        }
    }

    /// Drops what is kept for sandboxes that are gone.
    mutating func forget<Names: Sequence<String>>(_ names: Names) {
        for name in names { bases[name] = nil }
    }

    /// Keeps only `names` (after the whole table was rewritten).
    mutating func keepOnly(_ names: Set<String>) {
        bases = bases.filter { names.contains($0.key) }
    }

    /// `object` (a JSON object's text, which does not hold `key`) with `"key":value` first.
    static func splice(key: String, value: String, into object: String) -> String {
        let body = object.utf8.dropFirst()  // after "{"
        let member = "{\"\(key)\":\(value)"
        return body.first == UInt8(ascii: "}") ? member + "}" : member + "," + String(Substring(body))
    }
}
