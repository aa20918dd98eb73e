import Foundation
import Reconciler
import Resources
import Testing
@testable import Drivers

/// `converge stats memory` through the real binary, on a state directory whose database
/// holds samples written through the Store API; its HTML page through a real browser.
@Suite("stats memory", .serialized)
struct StatsCommandTests {
    /// A state directory with a database and nothing else; removed with the value.
    final class StateDirectory: @unchecked Sendable {
        let root = "/tmp/cvg-stats-\(UUID().uuidString.prefix(8).lowercased())"
        var state: String { "\(root)/state" }
        init() throws { try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: root) }

        func store() throws -> Store { try Store(path: "\(state)/converge.db") }

        @discardableResult
        func converge(_ args: String...) -> CLIHarness.Run {
            CLIHarness.exec([CLIHarness.product("converge")] + args + ["--state", state])
        }
    }

    static let weird = "<b>&'x\""

    static func sandbox(_ name: String, allocated: Int64, used: Int64?, balloon: Int64) -> ObservedSandbox {
        let config = SandboxConfig(runtime: .cloudHypervisor, source: .image("base"), cpus: 2, memory: Quantity(bytes: allocated),
                                   disk: .gibibytes(20), limits: nil, maxCpus: 2, maxMemory: Quantity(bytes: allocated),
                                   networkPool: nil, balloonPolicy: "p", gpus: [])
        var s = ObservedSandbox(name: name, config: config, intendedState: .running, vm: .running)
        s.balloon = ObservedBalloon(allocated: Quantity(bytes: allocated), size: Quantity(bytes: balloon), guestUsed: used.map(Quantity.init(bytes:)))
        return s
    }

    /// 30 minutes of `web-1` every 30 s, `db` with a 10-minute gap and a guest that stops
    /// answering, and one sample of a sandbox whose name needs escaping.
    static func fill(_ store: Store, now: Double) async throws -> Int {
        var count = 0
        for i in 0..<60 {
            let t = now - 1815 + Double(i) * 30  // off the half minute: `--since 5m` cuts between samples
            let used: Int64 = (1 << 30) + Int64(i) * (40 << 20)
            var observed = [sandbox("web-1", allocated: 8 << 30, used: used, balloon: (8 << 30) - used - (1 << 30))]
            if i < 20 || i >= 40 { observed.append(sandbox("db", allocated: 4 << 30, used: i < 50 ? 3 << 29 : nil, balloon: 1 << 30)) }
            if i == 59 { observed.append(sandbox(weird, allocated: 2 << 30, used: 1 << 29, balloon: 1 << 30)) }
            count += try await store.recordMemorySamples(observed, at: t)
        }
        return count
    }

    @Test("the table shows the latest samples per sandbox in binary units, '-' where the guest did not say")
    func table() async throws {
        let dir = try StateDirectory()
        #expect(try await Self.fill(dir.store(), now: Clock.now) == 60 + 40 + 1)
        let run = dir.converge("stats", "memory")
        #expect(run.status == 0, "\(run.output)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "TIME", "ALLOCATED", "USED", "BALLOON", "RECLAIMED"])
        #expect(lines.filter { $0.hasPrefix("web-1 ") }.count == 10)
        #expect(lines.filter { $0.hasPrefix("db ") }.count == 10)
        #expect(lines.filter { $0.hasPrefix(Self.weird + " ") }.count == 1)
        // web-1's last sample: 1Gi + 59 × 40Mi used = 3.3Gi, balloon 8Gi − used − 1Gi = 3.7Gi.
        let last = try #require(lines.last { $0.hasPrefix("web-1 ") }).split(separator: " ").map(String.init)
        #expect(Array(last.suffix(4)) == ["8Gi", "3.3Gi", "3.7Gi", "3.7Gi"], "\(last)")
        #expect(lines.last { $0.hasPrefix("db ") }?.split(separator: " ")[3] == "-")
        #expect(run.stderr.contains("older samples not shown"))
        let one = dir.converge("stats", "memory", "db", "--limit", "3")
        #expect(one.stdout.split(separator: "\n").count == 4 && !one.stdout.contains("web-1"), "\(one.output)")
    }

    @Test("--json gives every sample with stable keys, bytes as integers, unix-second times and null for unknown use")
    func json() async throws {
        let dir = try StateDirectory()
        let now = Clock.now
        _ = try await Self.fill(dir.store(), now: now)
        let run = dir.converge("stats", "memory", "--json")
        #expect(run.status == 0, "\(run.output)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let sandboxes = try #require(root["sandboxes"] as? [[String: Any]])
        #expect(sandboxes.compactMap { $0["name"] as? String } == [Self.weird, "db", "web-1"])
        let web = try #require(sandboxes.last?["samples"] as? [[String: Any]])
        #expect(web.count == 60)
        let keys: Set<String> = ["time", "allocatedBytes", "usedBytes", "balloonBytes", "reclaimedBytes"]
        #expect(sandboxes.allSatisfy { ($0["samples"] as? [[String: Any]])?.allSatisfy { Set($0.keys) == keys } == true })
        #expect(web.first?["allocatedBytes"] as? Int == 8 << 30)
        #expect(web.first?["usedBytes"] as? Int == 1 << 30)
        #expect(abs((web.first?["time"] as? Double ?? 0) - (now - 1815)) < 0.001)
        let db = try #require(sandboxes[1]["samples"] as? [[String: Any]])
        #expect(db.count == 40 && db.last?["usedBytes"] is NSNull)
        let recent = try #require(try JSONSerialization.jsonObject(with: Data(dir.converge("stats", "memory", "web-1", "--since", "5m", "--json").stdout.utf8)) as? [String: Any])
        #expect(((recent["sandboxes"] as? [[String: Any]])?.first?["samples"] as? [Any])?.count == 9)
    }

    @Test("unknown names, statistics and options are refused with what to do; no state directory and no samples are said, not errors")
    func refusals() async throws {
        let dir = try StateDirectory()
        _ = try await Self.fill(dir.store(), now: Clock.now)
        let unknown = dir.converge("stats", "memory", "nobody")
        #expect(unknown.status == 1 && unknown.stderr.contains("no sandbox 'nobody'") && unknown.stderr.contains("db, web-1"), "\(unknown.output)")
        #expect(dir.converge("stats", "cpu").status == 64)
        #expect(dir.converge("stats").status == 64)
        #expect(dir.converge("stats", "memory", "--since", "soon").status == 64)
        #expect(dir.converge("stats", "memory", "--limit", "0").status == 64)
        let help = dir.converge("stats", "--help")
        #expect(help.status == 0 && help.stdout.contains("--html FILE"), "\(help.output)")

        let missing = "\(dir.root)/not-there"
        let none = CLIHarness.bare("stats", "memory", "--state", missing)
        #expect(none.status == 0 && none.stderr.contains("no state in") && !FileManager.default.fileExists(atPath: missing), "\(none.output)")

        let empty = try StateDirectory()
        _ = try empty.store()
        let nothing = empty.converge("stats", "memory")
        #expect(nothing.status == 0 && nothing.stdout.isEmpty && nothing.stderr.contains("no memory samples"), "\(nothing.output)")
        let unwritable = empty.converge("stats", "memory", "--html", "\(empty.root)/no/such/dir/page.html")
        #expect(unwritable.status == 1 && unwritable.stderr.contains("cannot write"), "\(unwritable.output)")
    }

    @Test("--html writes one self-contained page that a real browser renders without a console message: host and sandbox charts, names escaped")
    func html() async throws {
        let dir = try StateDirectory()
        _ = try await Self.fill(dir.store(), now: Clock.now)
        let page = "\(dir.root)/memory.html"
        let run = dir.converge("stats", "memory", "--html", page)
        #expect(run.status == 0 && run.stdout.contains("101 samples of 3 sandboxes"), "\(run.output)")
        let text = try String(contentsOfFile: page, encoding: .utf8)
        // Self-contained: nothing that fetches.
        for fetcher in ["<script", "<link", "<img", "@import", "url(", "http://", "https://"] {
            #expect(!text.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains(fetcher), "\(fetcher)")
        }
        #expect(!text.contains(Self.weird))

        let dom = try HeadlessChromium.run(page, ["--dump-dom"])
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(2000))")
        #expect(HeadlessChromium.pageProblems(dom.stderr).isEmpty, "\(HeadlessChromium.pageProblems(dom.stderr))")
        let html = dom.stdout
        #expect(html.components(separatedBy: "<svg").count - 1 == 4, "host + 3 sandboxes")
        #expect(html.components(separatedBy: "data-series=\"host\"").count - 1 == 1)
        for key in ["allocated", "used", "reclaimed"] {
            #expect(html.components(separatedBy: "<path class=\"series \(key)\"").count - 1 == 4, "\(key)")
        }
        #expect(html.contains("data-sandbox=\"web-1\"") && html.contains("data-sandbox=\"db\""))
        #expect(html.contains("<h2>&lt;b&gt;&amp;'x\"</h2>"), "the escaped name, parsed back as text")
        #expect(html.contains("class=\"legend allocated\"") && html.contains("time (UTC)"))
        // db was not sampled for 10 minutes: its line restarts once (a second "M" in its path).
        let dbChart = try #require(html.range(of: "data-sandbox=\"db\"")).upperBound
        let allocated = try #require(html[dbChart...].range(of: "<path class=\"series allocated\""))
        let d = html[allocated.upperBound...].prefix { $0 != "/" }
        #expect(d.filter { $0 == "M" }.count == 2, "\(d.prefix(200))")

        let shot = "\(dir.root)/memory.png"
        let screenshot = try HeadlessChromium.run(page, ["--screenshot=\(shot)", "--window-size=1200,900", "--hide-scrollbars"])
        #expect(screenshot.status == 0, "\(screenshot.stderr.suffix(2000))")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "\(png.count) bytes")
    }

    @Test("a long history is drawn with at most 500 points per line, unbroken, while --json keeps every sample")
    func longHistory() async throws {
        let dir = try StateDirectory()
        let store = try dir.store()
        let now = Clock.now
        for i in 0..<1200 {
            let used: Int64 = (1 << 30) + Int64(i % 100) * (8 << 20)
            try await store.recordMemorySamples([Self.sandbox("long", allocated: 4 << 30, used: used, balloon: 1 << 30)],
                                                at: now - 6000 + Double(i) * 5)
        }
        let page = "\(dir.root)/long.html"
        #expect(dir.converge("stats", "memory", "--html", page).status == 0)
        let text = try String(contentsOfFile: page, encoding: .utf8)
        let paths = text.components(separatedBy: "<path class=\"series ").dropFirst().map { $0.prefix { $0 != "/" } }
        #expect(paths.count == 6, "host and long, three lines each")
        for d in paths {
            let points = d.filter { $0 == "M" || $0 == "L" }.count
            #expect((400...500).contains(points) && d.filter { $0 == "M" }.count == 1, "\(points) points: \(d.prefix(120))")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dir.converge("stats", "memory", "long", "--json").stdout.utf8)) as? [String: Any])
        #expect(((json["sandboxes"] as? [[String: Any]])?.first?["samples"] as? [Any])?.count == 1200)
    }

    @Test("the console check catches what it looks for: the same page with an external image is reported")
    func consoleCheckWorks() async throws {
        let dir = try StateDirectory()
        _ = try await Self.fill(dir.store(), now: Clock.now)
        let page = "\(dir.root)/memory.html"
        #expect(dir.converge("stats", "memory", "--html", page).status == 0)
        let tampered = try String(contentsOfFile: page, encoding: .utf8)
            .replacingOccurrences(of: "<main>", with: "<main><img src=\"http://192.0.2.1/x.png\" alt=\"\">")
        try tampered.write(toFile: page, atomically: true, encoding: .utf8)
        let dom = try HeadlessChromium.run(page, ["--dump-dom"])
        #expect(dom.status == 0)
        #expect(HeadlessChromium.pageProblems(dom.stderr).contains { $0.contains("Content Security Policy") }, "\(dom.stderr.suffix(2000))")
    }

    @Test("with no samples the page says so in a browser, and draws no chart")
    func emptyPage() async throws {
        let dir = try StateDirectory()
        _ = try dir.store()
        let page = "\(dir.root)/empty.html"
        let run = dir.converge("stats", "memory", "--html", page)
        #expect(run.status == 0, "\(run.output)")
        let dom = try HeadlessChromium.run(page, ["--dump-dom"])
        #expect(dom.status == 0 && HeadlessChromium.pageProblems(dom.stderr).isEmpty, "\(dom.stderr.suffix(2000))")
        #expect(dom.stdout.contains("id=\"empty\"") && dom.stdout.contains("No memory samples yet"))
        #expect(!dom.stdout.contains("<svg"))
    }
}
