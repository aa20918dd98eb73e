import Foundation
import Testing
@testable import Drivers

/// Debian's `chromium`, run headless on a file, with argv (no shell), a private profile
/// removed afterwards, and a deadline enforced by coreutils' `timeout` (which signals
/// chromium's whole process group), so a hung browser fails the test instead of hanging it.
enum HeadlessChromium {
    static let installHint = "chromium is not installed: apt-get install -y --no-install-recommends chromium (.ci/run installs it)"

    /// Chromium's path, or a failed test saying how to install it: never a skip.
    static func path(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(Executables.find("chromium"), Comment(rawValue: installHint), sourceLocation: sourceLocation)
    }

    /// Opens `file` and runs chromium with `extra` (`--dump-dom`, `--screenshot=…`).
    static func run(_ file: String, _ extra: [String], deadline seconds: Int = 180) throws -> CLIHarness.Run {
        let chromium = try path()
        let profile = "/tmp/cvg-chromium-\(UUID().uuidString.prefix(8).lowercased())"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let timeout = try #require(Executables.find("timeout"), "coreutils' timeout is missing")
        return CLIHarness.exec([timeout, "--kill-after=10", String(seconds), chromium,
                                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                                "--disable-extensions", "--user-data-dir=\(profile)", "--enable-logging=stderr", "--v=0"]
                               + extra + [URL(fileURLWithPath: file).absoluteString])
    }

    /// Lines of chromium's log written by the page: its console messages (Chromium 156 logs
    /// every level as `INFO:CONSOLE`, CSP violations and uncaught exceptions included). A
    /// page without scripts has none unless something went wrong.
    static func pageProblems(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }
    }
}
