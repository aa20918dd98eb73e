import Foundation
import Glibc
import Testing
@testable import Drivers

/// Command-line habits (CONTRACT §2), through the real binary.
@Suite("command-line habits", .serialized)
struct CLIHabitsTests {
    @Test("global options before the command work as they do after it")
    func globalsFirst() throws {
        let h = try CLIHarness()
        let before = CLIHarness.bare("--state", h.state, "plan", h.specs)
        #expect(before.status == 2, "\(before.output)")
        #expect(before.stdout.contains("+   Sandbox/web-1 create"), "\(before.stdout)")
        #expect(before.stdout == h.converge("plan", h.specs).stdout)
        let json = CLIHarness.bare("--json", "--state=\(h.state)", "plan", h.specs)
        #expect(json.status == 2 && (h.json(json.stdout) as? [String: Any])?["changes"] as? Bool == true, "\(json.output)")
        #expect(CLIHarness.bare("--frobnicate", "plan", h.specs).status == 64)
        #expect(CLIHarness.bare("--state").status == 64)
        #expect(CLIHarness.bare("--state", h.state).status == 64)
    }

    @Test("converge --version and converge version print the same version line")
    func version() throws {
        let flag = CLIHarness.bare("--version")
        let word = CLIHarness.bare("version")
        #expect(flag.status == 0 && word.status == 0, "\(flag.output) \(word.output)")
        #expect(flag.stdout.hasPrefix("converge ") && flag.stdout.contains(where: \.isNumber), "\(flag.stdout)")
        #expect(flag.stdout == word.stdout)
        #expect(CLIHarness.bare("--help").stdout.contains("  version "))
    }

    @Test("get, status, events and stats never create a state directory or a database; they say there is none and exit 0 (CONTRACT §2)")
    func readOnlyWithoutState() throws {
        let h = try CLIHarness()
        let missing = "\(h.root)/no-such-state"
        for args in [["get", "sandboxes"], ["status"], ["events"], ["events", "Sandbox/web-1"], ["stats", "memory"],
                     ["stats", "memory", "web-1", "--html", "\(h.root)/memory.html"]] {
            let run = CLIHarness.bare(args + ["--state", missing])
            #expect(run.status == 0, "\(args): \(run.output)")
            #expect(run.stderr.contains("no state in \(missing): nothing has been applied"), "\(args): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: missing), "\(args) created \(missing)")
        }
        // The harness's state directory exists (config only): still no database.
        let existing = h.converge("get", "sandboxes")
        #expect(existing.status == 0 && existing.stderr.contains("no state in \(h.state)"), "\(existing.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/converge.db"))
    }

    @Test("plan on a fresh host shows the creates without creating a state directory or a database")
    func planReadOnly() throws {
        let h = try CLIHarness()
        let fresh = h.converge("plan", h.specs)
        #expect(fresh.status == 2 && fresh.stdout.contains("Plan: 5 to create"), "\(fresh.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/converge.db"))
        let missing = "\(h.root)/no-such-state"
        #expect(CLIHarness.bare("plan", h.specs, "--state", missing, "--config", "\(h.state)/config.yaml").status == 2)
        #expect(!FileManager.default.fileExists(atPath: missing))
        // After an apply, plan reads the database without writing to it.
        #expect(h.converge("apply", h.specs).status == 0)
        let database = "\(h.state)/converge.db"
        let modified = try FileManager.default.attributesOfItem(atPath: database)[.modificationDate] as? Date
        #expect(h.converge("plan", h.specs).status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: database)[.modificationDate] as? Date == modified)
    }

    @Test("plan and apply say resources are held, never 'No changes', while a spec file does not validate; exit 1")
    func heldNotNoChanges() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        try "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: web-1\n".write(toFile: "\(h.specs)/web.yaml", atomically: true, encoding: .utf8)
        let plan = h.converge("plan", h.specs)
        #expect(plan.status == 1, "\(plan.output)")
        #expect(!plan.stdout.contains("No changes."), "\(plan.stdout)")
        #expect(plan.stdout.contains("No changes to valid resources; 2 held at their last good spec (file"), "\(plan.stdout)")
        #expect(plan.stdout.contains("web.yaml does not validate)"), "\(plan.stdout)")
        let apply = h.converge("apply", h.specs)
        #expect(apply.status == 1, "\(apply.output)")
        #expect(!apply.stdout.contains("No changes:"), "\(apply.stdout)")
        #expect(apply.stdout.contains("2 held at their last good spec"), "\(apply.stdout)")
    }

    @Test("after a VMM is killed, get and status show it not ready until it is repaired, as OBSERVED says")
    func readyFollowsObserved() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        let row = try #require(Self.sandbox(h, "web-2"))
        #expect(row["ready"] as? String == "True")
        let victim = try #require(row["pid"] as? Int)
        kill(Int32(victim), SIGKILL)
        #expect(DaemonTests.until { Self.sandbox(h, "web-2")?["observedState"] as? String != "running" }, "the kill was never observed")
        let after = try #require(Self.sandbox(h, "web-2"))
        #expect(after["ready"] as? String == "False", "\(after)")
        #expect(after["reason"] as? String == "VMMExited", "\(after)")
        let ready = (after["conditions"] as? [[String: Any]])?.first { $0["type"] as? String == "Ready" }
        #expect(ready?["status"] as? String == "False" && (ready?["message"] as? String)?.contains("desired running") == true, "\(String(describing: ready))")
        let table = h.converge("get", "sandboxes").stdout.split(separator: "\n").first { $0.hasPrefix("web-2 ") } ?? ""
        #expect(table.contains("False") && !table.contains("Converged"), "\(table)")
        #expect(h.converge("status").stdout.contains("  web-2: VMMExited"))
        // The others are untouched, and a repair makes web-2 ready again.
        #expect(Self.sandbox(h, "web-1")?["ready"] as? String == "True")
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(Self.sandbox(h, "web-2")?["ready"] as? String == "True")
    }

    @Test("events KIND/NAME tells TapPool/default from BalloonPolicy/default; a bare NAME shows both, with their kinds")
    func eventsByKind() throws {
        let h = try CLIHarness()
        #expect(h.converge("apply", h.specs).status == 0)
        for kind in ["TapPool", "BalloonPolicy"] {
            let events = try #require(h.json(h.converge("events", "\(kind)/default", "--json").stdout) as? [[String: Any]])
            #expect(!events.isEmpty && events.allSatisfy { $0["kind"] as? String == kind && $0["name"] as? String == "default" }, "\(kind): \(events)")
        }
        let lowercase = try #require(h.json(h.converge("events", "tappool/default", "--json").stdout) as? [[String: Any]])
        #expect(!lowercase.isEmpty && lowercase.allSatisfy { $0["kind"] as? String == "TapPool" })
        let both = h.converge("events", "default").stdout
        #expect(both.contains("TapPool/default") && both.contains("BalloonPolicy/default"), "\(both)")
        #expect(h.converge("events", "Gadget/default").status == 64)
        #expect(h.converge("events", "Sandbox/").status == 64)
    }

    @Test("-v: plan also prints unchanged resources and what is observed; apply also prints every journal step")
    func verbose() throws {
        let h = try CLIHarness()
        let first = h.converge("apply", h.specs, "-v")
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stdout.contains("Journal steps:") && first.stdout.contains("Sandbox/web-1 create"), "\(first.stdout)")
        let quiet = h.converge("plan", h.specs)
        #expect(!quiet.stdout.contains("Observed on the host:"))
        let plan = h.converge("plan", h.specs, "--verbose")
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("Unchanged:\n") && plan.stdout.contains("=   Sandbox/web-1"), "\(plan.stdout)")
        #expect(plan.stdout.contains("Observed on the host:") && plan.stdout.contains("Sandbox/worker-1: paused"), "\(plan.stdout)")
        #expect(plan.stdout.contains("TapPool/default: 4 ready"), "\(plan.stdout)")
    }

    /// Every option each command's parser takes; a command missing here fails the test below.
    static let optionsByCommand: [String: [(option: String, value: String?)]] = [
        "validate": [],
        "plan": [("--max-destroy", "1"), ("--force", nil), ("--allow-empty", nil), ("--resync", "0s")],
        "apply": [("--max-destroy", "1"), ("--force", nil), ("--allow-empty", nil), ("--resync", "0s"), ("--concurrency", "2")],
        "daytona": [("--api-url", "http://127.0.0.1:1/api"), ("--token-file", "/nonexistent"), ("--serve", "127.0.0.1:1")],
        "run": [("--resync", "1s"), ("--grace", "1s"), ("--max-destroy", "1"), ("--force", nil), ("--allow-empty", nil)],
        "get": [],
        "status": [],
        "events": [("--limit", "5")],
        "stats": [("--html", "/nonexistent"), ("--since", "1h"), ("--limit", "5")],
        "version": [],
        "bench": [("--count", "1"), ("--rounds", "1"), ("--per-file", "1"), ("--keep", "/nonexistent"), ("--sim", "/nonexistent"), ("--network", nil)],
    ]
    static let globals = ["--state DIR", "--config FILE", "--json", "-v, --verbose", "-h, --help"]

    @Test("every command's --help lists every option its parser accepts, the global ones too; the top-level help lists every command")
    func helpListsOptions() throws {
        let top = CLIHarness.bare("--help")
        #expect(top.status == 0)
        let listed = top.stdout.components(separatedBy: "commands:\n").last?.components(separatedBy: "\n\n").first?
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) } ?? []
        #expect(listed.count >= 8, "\(top.stdout)")
        #expect(Set(listed).isSubset(of: Self.optionsByCommand.keys), "commands without an entry here: \(Set(listed).subtracting(Self.optionsByCommand.keys))")
        for option in Self.globals + ["--version"] { #expect(top.stdout.contains(option), "top-level help lacks \(option)") }
        for (command, options) in Self.optionsByCommand {
            let help = CLIHarness.bare(command, "--help")
            #expect(help.status == 0, "\(command): \(help.output)")
            for (option, value) in options {
                #expect(help.stdout.contains("  \(option)\(value == nil ? "" : " ")"), "\(command) --help lacks \(option): \(help.stdout)")
                // The parser takes it: too many positionals is the only complaint (nothing runs).
                let parsed = CLIHarness.bare([command, option] + (value.map { [$0] } ?? []) + ["a", "b", "c"])
                #expect(parsed.status == 64 && !parsed.stderr.contains("unknown option"), "\(command) \(option): \(parsed.stderr)")
            }
            for option in Self.globals { #expect(help.stdout.contains(option), "\(command) --help lacks \(option)") }
        }
        // And nothing else: an option of another command is refused.
        #expect(CLIHarness.bare("get", "--force", "sandboxes").stderr.contains("unknown option --force"))
    }

    static func sandbox(_ h: CLIHarness, _ name: String) -> [String: Any]? {
        (h.json(h.converge("get", "sandboxes", name, "--json").stdout) as? [[String: Any]])?.first
    }
}
