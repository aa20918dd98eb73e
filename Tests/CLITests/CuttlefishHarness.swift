import Foundation
import Glibc
@testable import Drivers

/// The bundled Cuttlefish simulator (Tools/cuttlefish-sim) wired into a harness: its tools
/// in the host configuration, its root the harness's own directory (so snapshot paths and
/// HOME need no re-rooting), and `CVD_SIM_ROOT` in every `converge` run's environment.
extension CLIHarness {
    static let cuttlefishSim = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tools/cuttlefish-sim").path

    /// Points the harness at the simulator; `extra` is appended to the host configuration.
    func enableCuttlefish(_ extra: String = "") throws {
        environment["CVD_SIM_ROOT"] = root
        let sim = Self.cuttlefishSim
        let config = try String(contentsOfFile: "\(state)/config.yaml", encoding: .utf8)
            + "CVD_PATH: \(sim)/cvd\nCVD_ADB_PATH: \(sim)/adb\nCVD_TMP_PATH: \(root)/tmp\nCVD_LOCK_PATH: \(root)/var/tmp/cvd/lock\n" + extra
        try config.write(toFile: "\(state)/config.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(state)/cuttlefish/artifacts/android/bin", withIntermediateDirectories: true)
    }

    var cuttlefishEnabled: Bool { environment["CVD_SIM_ROOT"] != nil }

    /// Runs a simulator tool (`cvd`, `adb`, `cfsimctl`) against this harness's root.
    @discardableResult
    func sim(_ tool: String, _ args: String...) -> Run {
        Self.exec(["\(Self.cuttlefishSim)/\(tool)"] + args,
                  environment: ProcessInfo.processInfo.environment.merging(["CVD_SIM_ROOT": root, "HOME": "\(state)/cuttlefish/home"]) { _, new in new })
    }

    /// Sets a simulator knob (`$CVD_SIM_ROOT/knobs/NAME`) for the following runs; nil clears it.
    func knob(_ name: String, _ value: String?) throws {
        let path = "\(root)/knobs/\(name)"
        try FileManager.default.createDirectory(atPath: "\(root)/knobs", withIntermediateDirectories: true)
        if let value { try value.write(toFile: path, atomically: true, encoding: .utf8) } else { try? FileManager.default.removeItem(atPath: path) }
    }

    /// `cvd fleet`: group name → (status, instance id).
    func fleet() -> [String: (status: String, id: Int)] {
        guard cuttlefishEnabled, let json = json(sim("cvd", "fleet").stdout) as? [String: Any],
              let groups = json["groups"] as? [[String: Any]] else { return [:] }
        var result: [String: (String, Int)] = [:]
        for group in groups {
            guard let name = group["group_name"] as? String, let instance = (group["instances"] as? [[String: Any]])?.first,
                  let dir = instance["instance_dir"] as? String else { continue }
            let id = Int(dir.split(separator: "-").last.map(String.init) ?? "") ?? Int(dir.split(separator: ".").last.map(String.init) ?? "") ?? 0
            result[name] = (instance["status"] as? String ?? "?", id)
        }
        return result
    }

    /// The directory cvd launched group `group`'s instance in.
    func instanceDirectory(_ group: String) -> String? {
        guard let json = json(sim("cvd", "fleet").stdout) as? [String: Any], let groups = json["groups"] as? [[String: Any]],
              let found = groups.first(where: { $0["group_name"] as? String == group }),
              let instance = (found["instances"] as? [[String: Any]])?.first else { return nil }
        return instance["instance_dir"] as? String
    }

    /// Groups cvd still lists, and runtime files left in the simulator's /tmp.
    func cuttlefishGroups() -> [String] {
        fleet().keys.map { "cvd group \($0)" }.sorted()
    }

    var cuttlefishRuntimeDirectories: [String] {
        cuttlefishEnabled ? ["\(root)/tmp/cf_avd_\(getuid())", "\(root)/tmp/cf_env_\(getuid())"] : []
    }

    /// `adb -s SERIAL shell ARGS` on the device of instance `id`.
    @discardableResult
    func adb(_ id: Int, _ args: String...) -> Run {
        Self.exec(["\(Self.cuttlefishSim)/adb", "-s", "127.0.0.1:\(6519 + id)", "shell"] + args,
                  environment: ProcessInfo.processInfo.environment.merging(["CVD_SIM_ROOT": root]) { _, new in new })
    }

    /// The pid of instance `id`'s crosvm, if one runs.
    func crosvm(_ id: Int) -> Int32? {
        Cuttlefish.HostFiles(tmp: "\(root)/tmp", locks: "\(root)/var/tmp/cvd/lock").crosvm(id)?.pid
    }

    /// A Cuttlefish Sandbox document.
    static func device(_ name: String, _ fields: String = "") -> String {
        "---\napiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: \(name)}\nspec: {runtime: cuttlefish, source: {image: android}, cpus: 2, memory: 2Gi, disk: 2Gi\(fields.isEmpty ? "" : ", " + fields)}\n"
    }
}
