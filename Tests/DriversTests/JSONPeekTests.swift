import Foundation
import Testing
@testable import Drivers

/// Reading one integer out of `vm.info` without decoding it: the same answer as a full
/// parse whenever it answers, and "unsure" (the caller decodes) whenever it cannot be.
@Suite("JSON peek")
struct JSONPeekTests {
    static let path = ["config", "balloon", "size"]

    static func peek(_ text: String) -> JSONPeek.Result {
        JSONPeek.integer(at: path, in: Array(text.utf8))
    }

    @Test("a vm.info with a balloon gives its size; without one, or with null, it is absent at its depth")
    func vmInfo() {
        let info = """
            {"config": {"cpus": {"boot_vcpus": 2, "max_vcpus": 4, "topology": null, "affinity": [{"vcpu": 0, "host_cpus": [1, 2]}]},
             "memory": {"size": 1073741824, "hotplugged_size": 0, "shared": false, "zones": []},
             "payload": {"kernel": "/k/vmlinux", "cmdline": "console=ttyS0 \\"quoted\\" \\u00e9"},
             "disks": [{"path": "/d/a.qcow2", "readonly": false, "rate": 1.5e3}],
             "balloon": {"size": 268435456, "deflate_on_oom": true, "free_page_reporting": false}},
             "state": "Running", "memory_actual_size": 805306368, "device_tree": {}}
            """
        #expect(Self.peek(info) == .integer(268_435_456))
        #expect(Self.peek(#"{"config": {"memory": {"size": 1}}, "state": "Running"}"#) == .absent(depth: 1))
        #expect(Self.peek(#"{"config": {"balloon": null}}"#) == .absent(depth: 1))
        #expect(Self.peek(#"{"config": {"balloon": {"size": null}}}"#) == .absent(depth: 2))
        #expect(Self.peek(#"{"config": {"balloon": {}}}"#) == .absent(depth: 2))
        #expect(Self.peek(#"{"state": "Created"}"#) == .absent(depth: 0))
        #expect(Self.peek(#" {"config":{"balloon":{"size":-0}}} "#) == .integer(0))
        #expect(Self.peek(#"{"config":{"balloon":{"size":9223372036854775807}}}"#) == .integer(Int64.max))
        #expect(Self.peek(#"{"config": {"balloon": {"size": 7}, "cmdline": "é", "x": {"ü": 1}}}"#) == .integer(7))
    }

    @Test("it is unsure of what a full parse could read otherwise, and of anything malformed", arguments: [
        #"{"config": {"balloo\u006e": {"size": 1}}}"#,  // an escaped key that spells the path's
        #"{"config": {"balloon": {"size": 1}, "balloon": {"size": 2}}}"#,  // repeated
        #"{"config": {"balloon": {"size": 1.5}}}"#,
        #"{"config": {"balloon": {"size": 1e3}}}"#,
        #"{"config": {"balloon": {"size": "1"}}}"#,
        #"{"config": {"balloon": {"size": 9223372036854775808}}}"#,  // past Int64
        #"{"config": {"balloon": [1]}}"#,
        #"{"config": "none"}"#,
        #"null"#,
        #"[{"config": {"balloon": {"size": 1}}}]"#,
        #"{"config": {"balloon": {"size": 1}}"#,  // truncated
        #"{"config": {"balloon": {"size": 1}}} x"#,  // trailing
        #"{"config": {"balloon": {"size": 01}}}"#,
        #"{"config": {"balloon": {"size": 1}}, "x": "\q"}"#,  // bad escape
        #"{"config": {"balloon": {"size": 1}}, "x": "\u12"}"#,
        "{\"config\": {\"balloon\": {\"size\": 1}}, \"x\": \"a\u{01}b\"}",  // a raw control character
        #"{"config": {"balloon": {"size": 1}}, "x": tru}"#,
        #"{"config": {"balloon": {"size": 1}},}"#,
        #"{"config": {"balloon": {"size": 1}}, "x": [1,]}"#,
        #"{"config": {"balloon": {"size": 1}}, "x": -}"#,
        #"{"config": {"balloon": {"size": 1}}, "x": 1.}"#,
        #"{"config": {"balloon": {"size": 1}}, "é": 1}"#,  // JSONDecoder reads every key of an object on the path
        "",
    ])
    func unsure(_ text: String) {
        #expect(Self.peek(text) == .unsure)
    }

    @Test("on a thousand random documents written by JSONSerialization it finds what was put at the path")
    func agreesWithFullParse() throws {
        var random = SplitMix(seed: 0x5EED)
        for round in 0..<1000 {
            let (document, expected) = Self.randomDocument(&random)
            let data = try JSONSerialization.data(withJSONObject: document, options: round % 2 == 0 ? [.prettyPrinted] : [])
            let peeked = JSONPeek.integer(at: Self.path, in: Array(data))
            #expect(peeked == expected, "round \(round): \(String(decoding: data, as: UTF8.self))")
        }
    }

    /// An object that holds the path (or part of it) among other members, at random, and
    /// what is at the path.
    static func randomDocument(_ random: inout SplitMix) -> ([String: Any], JSONPeek.Result) {
        var expected = JSONPeek.Result.absent(depth: 2)
        var balloon: [String: Any] = ["deflate_on_oom": random.next() % 2 == 0, "noise": randomValue(&random, depth: 2)]
        switch random.next() % 10 {
        case 0: balloon["size"] = NSNull()
        case 1: break
        default:
            let size = Int64(bitPattern: random.next()) >> (random.next() % 63)
            balloon["size"] = size
            expected = .integer(size)
        }
        var config: [String: Any] = ["cpus": randomValue(&random, depth: 1), "memory": randomValue(&random, depth: 1)]
        switch random.next() % 10 {
        case 0: config["balloon"] = NSNull(); expected = .absent(depth: 1)
        case 1: expected = .absent(depth: 1)
        default: config["balloon"] = balloon
        }
        var document: [String: Any] = ["state": "Running", "extra": randomValue(&random, depth: 0)]
        if random.next() % 20 != 0 { document["config"] = config } else { expected = .absent(depth: 0) }
        return (document, expected)
    }

    static func randomValue(_ random: inout SplitMix, depth: Int) -> Any {
        switch random.next() % (depth > 3 ? 5 : 7) {
        case 0: return NSNull()
        case 1: return random.next() % 2 == 0
        case 2: return Int(truncatingIfNeeded: random.next() >> 12) - (1 << 51)
        case 3: return Double(random.next() % 100_000) / 7.0
        case 4: return "s\(random.next() % 1000) \"q\" \\ é \u{7}"
        case 5: return (0..<Int(random.next() % 4)).map { _ in randomValue(&random, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for k in 0..<Int(random.next() % 4) { object["k\(k)\(random.next() % 3 == 0 ? "size" : "")"] = randomValue(&random, depth: depth + 1) }
            return object
        }
    }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
