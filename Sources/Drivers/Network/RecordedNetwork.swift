import Foundation
import Reconciler
import Resources

/// The TapPool driver of this version: it records each pool's applied spec as a file in
/// the state directory and creates no host objects yet. The namespace, veth, TAP and
/// nftables driver replaces it behind the same `HostNetwork` protocol.
public struct RecordedNetwork: HostNetwork {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func observePools() async throws -> [String: AppliedRecord] {
        var result: [String: AppliedRecord] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for file in names where file.hasPrefix("pool-") && file.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)"),
                  let spec = try? JSONDecoder().decode(TapPoolSpec.self, from: data) else { continue }
            result[String(file.dropFirst(5).dropLast(5))] = AppliedRecord(body: .tapPool(spec))
        }
        return result
    }

    public func ensurePool(_ name: String, spec: TapPoolSpec, journal: StepJournal) async throws {
        try await journal.step("network.pool.record") {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFile.write(try JSONEncoder().encode(spec), to: "\(directory)/pool-\(name).json")
        }
    }

    public func removePool(_ name: String, journal: StepJournal) async throws {
        try await journal.step("network.pool.remove") {
            try AtomicFile.remove("\(directory)/pool-\(name).json")
        }
    }
}
