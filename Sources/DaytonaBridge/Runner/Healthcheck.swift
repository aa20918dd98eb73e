import Foundation
import Glibc
import Resources

/// `RunnerHealthcheck` (reference §4): what the bridge pushes to `POST /api/runners/healthcheck`.
struct Healthcheck: Encodable {
    struct Service: Encodable {
        var serviceName: String
        var healthy: Bool
        var errorReason: String?
    }
    /// `RunnerHealthMetrics`: every field but gpu/gpuType is required.
    struct Metrics: Encodable {
        var currentCpuLoadAverage: Double
        var currentCpuUsagePercentage: Double
        var currentMemoryUsagePercentage: Double
        var currentDiskUsagePercentage: Double
        var currentAllocatedCpu: Double
        var currentAllocatedMemoryGiB: Double
        var currentAllocatedDiskGiB: Double
        var currentSnapshotCount: Int
        var currentStartedSandboxes: Int
        var cpu: Double
        var memoryGiB: Double
        var diskGiB: Double
    }
    var metrics: Metrics
    var serviceHealth: [Service]
    var apiUrl: String?
    var proxyUrl: String?
    var appVersion: String

    /// Host figures plus what `converge run` observed; "healthy" means its daemon runs.
    static func collect(_ status: ObservedStatus, version: String, apiUrl: String?) -> Healthcheck {
        let sandboxes = status.rows("Sandbox")
        let started = sandboxes.filter { $0.observedState == "running" }
        func gib(_ text: String?) -> Double { Double(text.flatMap { Quantity(parsing: $0)?.bytes } ?? 0) / 1_073_741_824 }
        var loads = [0.0, 0.0, 0.0]
        _ = getloadavg(&loads, 3)
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let memoryTotal = Double(ProcessInfo.processInfo.physicalMemory)
        var fs = statvfs()
        let hasFS = statvfs(status.stateDirectory, &fs) == 0
        let diskTotal = hasFS ? Double(fs.f_blocks) * Double(fs.f_frsize) : 0
        let diskFree = hasFS ? Double(fs.f_bavail) * Double(fs.f_frsize) : 0
        let daemon = reconcilerPID(status.stateDirectory)
        return Healthcheck(
            metrics: Metrics(currentCpuLoadAverage: loads[0], currentCpuUsagePercentage: min(100, loads[0] / max(1, cores) * 100),
                             currentMemoryUsagePercentage: memoryTotal > 0 ? (1 - availableMemory() / memoryTotal) * 100 : 0,
                             currentDiskUsagePercentage: diskTotal > 0 ? (1 - diskFree / diskTotal) * 100 : 0,
                             currentAllocatedCpu: Double(started.compactMap(\.cpus).reduce(0, +)),
                             currentAllocatedMemoryGiB: started.map { gib($0.memory) }.reduce(0, +),
                             currentAllocatedDiskGiB: sandboxes.map { gib($0.disk) }.reduce(0, +),
                             currentSnapshotCount: status.rows("Snapshot").count, currentStartedSandboxes: started.count,
                             cpu: cores, memoryGiB: memoryTotal / 1_073_741_824, diskGiB: diskTotal / 1_073_741_824),
            serviceHealth: [Service(serviceName: "converge", healthy: daemon != nil,
                                    errorReason: daemon == nil ? "converge run is not running for \(status.stateDirectory)" : nil)],
            apiUrl: apiUrl, proxyUrl: apiUrl, appVersion: version)
    }

    /// The pid `converge run` wrote into STATE/converge.lock, when that process lives.
    static func reconcilerPID(_ state: String) -> Int32? {
        guard let text = try? String(contentsOfFile: "\(state)/converge.lock", encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return pid
    }

    private static func availableMemory() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
        return kb * 1024
    }
}
