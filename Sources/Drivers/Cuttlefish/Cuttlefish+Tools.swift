import Foundation
import Glibc
import Synchronization

extension Cuttlefish {
    /// A `cvd` call that failed: its exit status and stderr (stdout carries only results).
    public struct CVDError: Error, Sendable, CustomStringConvertible {
        public var command: String
        public var exit: Int32
        public var stderr: String

        /// True when stderr holds `text` (cvd's messages are matched, never its exit code alone).
        public func says(_ text: String) -> Bool { stderr.contains(text) }

        /// The last lines that say something: not the version line cvd logs first, nor
        /// its closing "If the error above is unclear…" advice.
        public var tail: String {
            let lines = stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty && !$0.contains("main.cc") && !$0.hasPrefix("If the error above is unclear")
            }
            return lines.suffix(3).joined(separator: " | ")
        }

        public var description: String { "\(command) exited with status \(exit): \(tail)" }
    }

    /// Runs `cvd` and `adb` with argv (never a shell), stdin /dev/null, and HOME set: the
    /// group's own under `CVD_HOME` for cvd, `CVD_HOME` itself for adb and `fleet`. Every
    /// other variable is inherited (`CVD_SIM_ROOT` reaches the simulator that way).
    public struct Tools: Sendable {
        public var cvd: String
        public var adb: String
        public var home: String
        /// Variables added to the inherited environment (tests: the simulator's root).
        public var environment: [String: String] = [:]
        /// Seconds and calls spent inside cvd and adb, for Converge's own overhead.
        public static let clock = ToolClock()

        /// HOME of group `group`'s launches: how its `home` link names Converge (see `owns`).
        public func home(of group: String) -> String { "\(home)/\(group)" }

        /// `cvd [--group_name=G] ARGS`; returns stdout.
        /// - Throws: `CVDError` on a non-zero exit (stderr kept for the event).
        @discardableResult
        public func cvd(_ group: String?, _ args: [String], timeout: Double? = nil) async throws -> String {
            var environment = ProcessInfo.processInfo.environment.merging(self.environment) { _, new in new }
            environment["HOME"] = group.map(home(of:)) ?? home
            if let group { try FileManager.default.createDirectory(atPath: home(of: group), withIntermediateDirectories: true) }
            let argv = [cvd] + (group.map { ["--group_name=\($0)"] } ?? []) + args
            let env = environment
            let result = try await Self.timed { try Spawn.runToCompletion(argv, environment: env, timeout: timeout) }
            guard result.status == 0 else {
                throw CVDError(command: (["cvd"] + argv.dropFirst()).joined(separator: " "), exit: result.status, stderr: result.stderr)
            }
            return result.stdout
        }

        /// Every group of this uid (`cvd fleet`, which takes no arguments).
        public func fleet() async throws -> Fleet {
            let out = try await cvd(nil, ["fleet"], timeout: 60)
            do {
                return try JSONDecoder().decode(Fleet.self, from: Data(out.utf8))
            } catch {
                throw CVDError(command: "cvd fleet", exit: 0, stderr: "its output is not the fleet JSON: \(error)")
            }
        }

        /// `adb -s SERIAL shell getprop sys.boot_completed`: true for `1`, false for anything
        /// else, nil when adb did not answer within `timeout` (it blocks on a suspended device).
        public func bootCompleted(_ serial: String, timeout: Double) async -> Bool? {
            var environment = ProcessInfo.processInfo.environment.merging(self.environment) { _, new in new }
            environment["HOME"] = home
            let argv = [adb, "-s", serial, "shell", "getprop", "sys.boot_completed"]
            let env = environment
            guard let result = try? await Self.timed({ try Spawn.runToCompletion(argv, environment: env, timeout: timeout) }),
                  result.status != 128 + SIGKILL else { return nil }
            return result.status == 0 && result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }

        private static func timed<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            let start = Date()
            defer { clock.add(Date().timeIntervalSince(start)) }
            return try await Blocking.run(body)
        }
    }

    /// Time spent in external tools, process-wide.
    public final class ToolClock: Sendable {
        private let state = Mutex((seconds: 0.0, calls: 0))
        public func add(_ seconds: Double) { state.withLock { $0.seconds += seconds; $0.calls += 1 } }
        public var seconds: Double { state.withLock { $0.seconds } }
        public var calls: Int { state.withLock { $0.calls } }
    }
}
