import Foundation
import Testing

/// `converge bench scale` reports every scale goal, measured, in one run (small N here:
/// a figure is a benchmark's business, not a test's; this checks the report is whole).
@Suite("converge bench scale")
struct BenchScaleTests {
    @Test("one run reports each goal with its figures, its naive baseline and the create steps, and leaves nothing running")
    func reportsEveryGoal() throws {
        let before = Self.benchProcesses(), directoriesBefore = Self.benchDirectories()
        let run = CLIHarness.bare(["bench", "scale", "--count", "20", "--specs", "200", "--rounds", "1", "--json"])
        #expect(run.status == 0, "\(run.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.output)")
        let rows = try #require(report["rows"] as? [[String: Any]])
        let goals = rows.compactMap { $0["goal"] as? String }
        for start in ["load + validate + plan 200 specs", "create 20 sandboxes", "converge run: idle pass", "converge run: pass at a resync",
                      "converge run: balloon pass over 20 guests", "no-op converge apply over 20 running sandboxes"] {
            #expect(goals.contains { $0.hasPrefix(start) }, "no row for '\(start)' in \(goals)")
        }
        for row in rows {
            let seconds = row["seconds"] as? [Double] ?? []
            #expect(!seconds.isEmpty && seconds.allSatisfy { $0 > 0 }, "\(row)")
            // Every goal beside its naive baseline, timed in the same run (parsing with
            // PyYAML only where python3-yaml is installed, as CI does).
            if (row["baseline"] as? String)?.hasPrefix("- (no python3") != true {
                #expect((row["baselineSeconds"] as? Double ?? 0) > 0, "\(row)")
            }
        }
        let noop = try #require(rows.first { ($0["goal"] as? String)?.hasPrefix("no-op") == true })
        #expect((noop["baseline"] as? String)?.contains("curl vm.info per VMM") == true, "\(noop)")
        #expect((noop["measured"] as? String)?.contains("peak RSS") == true, "\(noop)")
        let steps = try #require(report["createSteps"] as? [String: Double])
        #expect((steps["ch.spawn"] ?? 0) > 0 && (steps["disk.overlay.create"] ?? 0) > 0, "\(steps)")
        let cold = try #require(report["coldLoadPhases"] as? [[String: Any]])
        #expect(cold.map { $0["phase"] as? String ?? "" } == ["load + validate (files parsed on every core)", "plan against an empty host"], "\(cold)")
        #expect(cold.allSatisfy { ($0["milliseconds"] as? Double ?? 0) > 0 }, "\(cold)")
        #expect(run.stderr.contains("removing the sandboxes"), "\(run.stderr)")
        #expect(!run.stderr.contains("teardown"), "\(run.stderr)")
        // Its directory (sandboxes, their sockets and the state) is gone with it.
        let directories = Self.benchDirectories().subtracting(directoriesBefore)
        #expect(directories.isEmpty, "\(directories)")
        // So are the VMMs, the naive baseline's among them (their sockets were in there).
        let left = Self.benchProcesses().subtracting(before)
        #expect(left.isEmpty, "VMMs left running: \(left)")
    }

    static func benchDirectories() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp"))?.filter { $0.hasPrefix("cvg-bench-scale-") } ?? [])
    }

    /// PIDs of processes with a bench scale directory in their command line: the VMMs of a
    /// run (another run's, started before this one, are not this run's to account for).
    static func benchProcesses() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }.filter {
            ((try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8)) ?? "").contains("/cvg-bench-scale-")
        })
    }
}
