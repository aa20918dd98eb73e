import Foundation
import Glibc

/// A command run as a whole process, its output discarded, timed from spawn to exit with
/// its peak RSS: what a user's shell would see.
struct TimedChild {
    var seconds: Double
    /// Nil without `/usr/bin/time` (Debian's `time`).
    var peakRSSKiB: Int?
    var status: Int32

    /// The peak RSS comes from `/usr/bin/time`, which forks the command: a process spawned
    /// straight from this one (vfork, or fork) would report this process's high-water mark
    /// when it is larger, because Linux keeps it across exec.
    /// - Parameter peakRSS: false spawns the command directly (no RSS; one process less).
    static func run(_ argv: [String], peakRSS: Bool = true) throws -> TimedChild {
        let time = "/usr/bin/time"
        guard peakRSS, FileManager.default.isExecutableFile(atPath: time) else {
            var run = try spawn(argv)
            run.peakRSSKiB = nil
            return run
        }
        let report = NSTemporaryDirectory() + "converge-rss-\(getpid())"
        defer { unlink(report) }
        var run = try spawn([time, "-f", "%M", "-o", report] + argv)
        run.peakRSSKiB = (try? String(contentsOfFile: report, encoding: .utf8))?
            .split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return run
    }

    private static func spawn(_ argv: [String]) throws -> TimedChild {
        let begun = monotonic()
        let pid = try start(argv)
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw CLIError("wait4 \(pid): \(String(cString: strerror(errno)))") }
        }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return TimedChild(seconds: monotonic() - begun, peakRSSKiB: usage.ru_maxrss, status: exit)
    }

    /// Spawns `argv` with its standard streams on /dev/null, and returns without waiting.
    static func start(_ argv: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        guard rc == 0 else { throw CLIError("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    static func monotonic() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// CPU seconds (user + system) this process has used so far, all threads.
    static func processCPU() -> Double { cpu(RUSAGE_SELF) }

    /// CPU seconds (user + system) of this process's children that have been waited for.
    static func childrenCPU() -> Double { cpu(RUSAGE_CHILDREN) }

    private static func cpu(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(who.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
