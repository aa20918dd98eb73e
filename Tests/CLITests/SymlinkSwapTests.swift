import Foundation
import Glibc
import Testing
@testable import Drivers

/// Spec trees published by swapping a symlink, as GitOps engines do: git-sync renames a
/// new `ROOT/current` link over the old one; a Kubernetes ConfigMap volume renames
/// `DIR/..data` onto a new timestamped directory that `DIR/NAME.yaml -> ..data/NAME.yaml`
/// go through. `converge run` must apply the new revision without waiting for the resync.
@Suite("converge run follows symlink swaps", .serialized)
struct SymlinkSwapTests {
    // MARK: - End to end, with the daemon

    @Test("git-sync layout: renaming a new ROOT/current over the old one starts a pass that applies the new revision")
    func gitSyncSwap() throws {
        let h = try CLIHarness()
        let root = "\(h.root)/git"
        let sync = GitSyncLayout(root: root)
        try sync.publish("rev1", from: h.specs) { $0 }
        let daemon = try DaemonTests.Daemon(h, specs: "\(root)/current")
        #expect(DaemonTests.until { DaemonTests.metric(h, "converge_converged") == 1 }, "\(daemon.log)")
        #expect(DaemonTests.status(h, "web-1")?["memory"] as? String == "2Gi", "\(daemon.log)")

        let passes = SwapTiming.specChangePasses(daemon)
        let swapped = try sync.publish("rev2", from: h.specs) { $0.replacingOccurrences(of: "memory: 2Gi", with: "memory: 3Gi") }
        let seen = SwapTiming.passStart(after: swapped, passesBefore: passes, in: daemon)
        #expect(seen != nil, "no spec-change pass after the swap:\n\(daemon.log)")
        #expect(DaemonTests.until { DaemonTests.status(h, "web-1")?["memory"] as? String == "3Gi" }, "\(daemon.log)")
        #expect(daemon.log.contains("\(root)/current now leads to \(sync.worktree("rev2"))"), "\(daemon.log)")
        if let seen { print("git-sync swap → pass start: \(String(format: "%.3f", seen))s") }
        #expect(daemon.stop(SIGTERM) == 0, "\(daemon.log)")
    }

    @Test("ConfigMap layout: renaming ..data onto a new timestamped directory starts a pass that applies the new revision")
    func configMapSwap() throws {
        let h = try CLIHarness()
        let dir = "\(h.root)/configmap"
        let volume = ConfigMapLayout(directory: dir)
        try volume.publish("..2026_12_01_10_00_00.000", from: h.specs) { $0 }
        let daemon = try DaemonTests.Daemon(h, specs: dir)
        #expect(DaemonTests.until { DaemonTests.metric(h, "converge_converged") == 1 }, "\(daemon.log)")
        #expect(DaemonTests.status(h, "web-1")?["memory"] as? String == "2Gi", "\(daemon.log)")
        #expect(DaemonTests.status(h, "web-2") != nil, "\(daemon.log)")

        // The new revision resizes web-1 and drops worker.yaml (kubelet removes its link).
        let passes = SwapTiming.specChangePasses(daemon)
        let swapped = try volume.publish("..2026_12_01_10_05_00.000", from: h.specs, without: ["worker.yaml"]) {
            $0.replacingOccurrences(of: "memory: 2Gi", with: "memory: 3Gi")
        }
        let seen = SwapTiming.passStart(after: swapped, passesBefore: passes, in: daemon)
        #expect(seen != nil, "no spec-change pass after the swap:\n\(daemon.log)")
        #expect(DaemonTests.until { DaemonTests.status(h, "web-1")?["memory"] as? String == "3Gi" && DaemonTests.status(h, "worker-1") == nil }, "\(daemon.log)")
        if let seen { print("ConfigMap swap → pass start: \(String(format: "%.3f", seen))s") }
        #expect(daemon.stop(SIGTERM) == 0, "\(daemon.log)")
    }

    // MARK: - The watcher alone

    // inotify queues an event before the write that causes it returns, so `wait(timeout: 0)`
    // right after a write sees it if, and only if, the directory is watched.

    @Test("after a git-sync swap, edits to the old worktree wake nothing, edits to the new one do, and other names beside the link are ignored")
    func oldRevisionIsNotWatched() throws {
        let root = "/tmp/cvg-swap-\(UUID().uuidString.prefix(8).lowercased())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let seed = "\(root)/seed"
        try FileManager.default.createDirectory(atPath: seed, withIntermediateDirectories: true)
        try "a: 1\n".write(toFile: "\(seed)/a.yaml", atomically: true, encoding: .utf8)
        let sync = GitSyncLayout(root: "\(root)/git")
        try sync.publish("rev1", from: seed) { $0 }
        let waiter = try EventWaiter(directory: "\(root)/git/current")

        try "a: 2\n".write(toFile: sync.worktree("rev1") + "/a.yaml", atomically: false, encoding: .utf8)
        #expect(waiter.wait(timeout: 0) == .specsChanged)

        _ = try sync.publish("rev2", from: seed) { $0 }
        #expect(waiter.wait(timeout: 5) == .specsChanged)
        #expect(waiter.watchedDirectories[sync.worktree("rev2")] == .all)
        #expect(waiter.watchedDirectories[sync.worktree("rev1")] == nil)

        try "a: 3\n".write(toFile: sync.worktree("rev1") + "/a.yaml", atomically: false, encoding: .utf8)
        #expect(waiter.wait(timeout: 0) == .timeout)
        // git-sync's own files next to the link are not spec changes.
        try "x".write(toFile: "\(root)/git/unrelated", atomically: false, encoding: .utf8)
        #expect(waiter.wait(timeout: 0) == .timeout)
        try "a: 4\n".write(toFile: sync.worktree("rev2") + "/a.yaml", atomically: false, encoding: .utf8)
        #expect(waiter.wait(timeout: 0) == .specsChanged)
    }

    @Test("a host's directory below the link (current/hosts/NAME), with a shared directory linked in, follows the swap")
    func hostDirectoryBelowTheLink() throws {
        let root = "/tmp/cvg-swap-\(UUID().uuidString.prefix(8).lowercased())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sync = GitSyncLayout(root: "\(root)/git")
        // One repository for many hosts: hosts/NAME/ per host, common/ linked into each.
        func revision(_ name: String) throws {
            let tree = sync.worktree(name)
            try FileManager.default.createDirectory(atPath: "\(tree)/hosts/h1", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(tree)/common", withIntermediateDirectories: true)
            try "a: 1\n".write(toFile: "\(tree)/hosts/h1/a.yaml", atomically: true, encoding: .utf8)
            try "pool: 1\n".write(toFile: "\(tree)/common/pool.yaml", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(tree)/hosts/h1/common", withDestinationPath: "../../common")
            try SwapFiles.swapLink("\(root)/git/current", to: ".worktrees/\(name)")
        }
        try revision("rev1")
        let waiter = try EventWaiter(directory: "\(root)/git/current/hosts/h1")
        #expect(waiter.watchedDirectories["\(sync.worktree("rev1"))/hosts/h1"] == .all)
        #expect(waiter.watchedDirectories["\(sync.worktree("rev1"))/common"] == .all)
        try "pool: 2\n".write(toFile: "\(sync.worktree("rev1"))/common/pool.yaml", atomically: false, encoding: .utf8)
        #expect(waiter.wait(timeout: 0) == .specsChanged)

        try revision("rev2")
        #expect(waiter.wait(timeout: 5) == .specsChanged)
        #expect(waiter.watchedDirectories["\(sync.worktree("rev2"))/hosts/h1"] == .all)
        #expect(waiter.watchedDirectories["\(sync.worktree("rev2"))/common"] == .all)
        #expect(!waiter.watchedDirectories.keys.contains { $0.hasPrefix(sync.worktree("rev1")) })
        try "pool: 3\n".write(toFile: "\(sync.worktree("rev1"))/common/pool.yaml", atomically: false, encoding: .utf8)
        #expect(waiter.wait(timeout: 0) == .timeout)
    }

    @Test("a spec directory that does not exist yet is noticed when its link appears")
    func linkAppearsLater() throws {
        let root = "/tmp/cvg-swap-\(UUID().uuidString.prefix(8).lowercased())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let seed = "\(root)/seed"
        try FileManager.default.createDirectory(atPath: seed, withIntermediateDirectories: true)
        try "a: 1\n".write(toFile: "\(seed)/a.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(root)/git", withIntermediateDirectories: true)
        // converge started before git-sync's first clone.
        let waiter = try EventWaiter(directory: "\(root)/git/current")
        #expect(waiter.wait(timeout: 0) == .timeout)

        let sync = GitSyncLayout(root: "\(root)/git")
        _ = try sync.publish("rev1", from: seed) { $0 }
        #expect(waiter.wait(timeout: 5) == .specsChanged)
        #expect(waiter.watchedDirectories[sync.worktree("rev1")] == .all)
    }
}

// MARK: - Layouts

/// What git-sync v4 does on a new commit: a worktree `ROOT/.worktrees/HASH`, then a
/// relative symlink made under a temporary name and renamed over `ROOT/current`.
struct GitSyncLayout {
    let root: String

    func worktree(_ name: String) -> String { "\(root)/.worktrees/\(name)" }

    /// Publishes `source`'s files, rewritten by `edit`, as revision `name`; returns when the swap happened.
    @discardableResult
    func publish(_ name: String, from source: String, edit: (String) -> String) throws -> Date {
        let tree = worktree(name)
        try SwapFiles.copy(from: source, to: tree, edit: edit)
        try SwapFiles.swapLink("\(root)/current", to: ".worktrees/\(name)")
        return Date()
    }
}

/// What kubelet's AtomicWriter does on a ConfigMap update: a new `DIR/..TIMESTAMP`, a
/// `..data_tmp` link to it renamed over `..data`, top-level `NAME -> ..data/NAME` links
/// for new keys (and removed for dropped ones), then the old timestamped directory removed.
struct ConfigMapLayout {
    let directory: String

    @discardableResult
    func publish(_ stamp: String, from source: String, without dropped: Set<String> = [], edit: (String) -> String) throws -> Date {
        let fm = FileManager.default
        let old = try? fm.destinationOfSymbolicLink(atPath: "\(directory)/..data")
        try SwapFiles.copy(from: source, to: "\(directory)/\(stamp)", edit: edit, skipping: dropped)
        try SwapFiles.swapLink("\(directory)/..data", to: stamp)
        let swapped = Date()
        for name in try fm.contentsOfDirectory(atPath: "\(directory)/\(stamp)") where (try? fm.destinationOfSymbolicLink(atPath: "\(directory)/\(name)")) == nil {
            try fm.createSymbolicLink(atPath: "\(directory)/\(name)", withDestinationPath: "..data/\(name)")
        }
        for name in dropped { try? fm.removeItem(atPath: "\(directory)/\(name)") }
        if let old { try fm.removeItem(atPath: "\(directory)/\(old)") }
        return swapped
    }
}

enum SwapFiles {
    /// Copies the spec files of `source` into a new directory `target`, rewritten by
    /// `edit`, with the balloon loop slowed to 1h so that only the watch can start a pass.
    static func copy(from source: String, to target: String, edit: (String) -> String, skipping: Set<String> = []) throws {
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where name.hasSuffix(".yaml") && !skipping.contains(name) {
            let text = try String(contentsOfFile: "\(source)/\(name)", encoding: .utf8)
            try edit(text.replacingOccurrences(of: "interval: 30s", with: "interval: 1h"))
                .write(toFile: "\(target)/\(name)", atomically: true, encoding: .utf8)
        }
    }

    /// Points `link` at `destination` in one rename(2), as both engines do.
    static func swapLink(_ link: String, to destination: String) throws {
        let temporary = link + "_tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: destination)
        guard rename(temporary, link) == 0 else { throw HarnessError(message: "rename \(temporary) → \(link): errno \(errno)") }
    }
}

enum SwapTiming {
    static func specChangePasses(_ daemon: DaemonTests.Daemon) -> Int {
        daemon.log.components(separatedBy: "pass (spec change)").count - 1
    }

    /// Seconds from `swap` to the start of the daemon's first "spec change" pass after it
    /// (the log's pass line is written at the pass's end and says how long it took).
    static func passStart(after swap: Date, passesBefore: Int, in daemon: DaemonTests.Daemon, timeout: Double = 15) -> Double? {
        var ended: Date?
        var line: String?
        _ = DaemonTests.until(timeout) {
            guard specChangePasses(daemon) > passesBefore else { return false }
            ended = Date()
            line = daemon.log.split(separator: "\n").last { $0.contains("pass (spec change)") }.map(String.init)
            return true
        }
        guard let ended, let line, let range = line.range(of: " in ", options: .backwards),
              let seconds = Double(line[range.upperBound...].dropLast()) else { return nil }
        return ended.timeIntervalSince(swap) - seconds
    }
}
