import Foundation
import Glibc
import Reconciler
import Resources

/// Host configuration (CONTRACT §3): a YAML file of `NAME: value` pairs using the
/// runners' environment names, with the environment winning. Every path defaults under
/// the state directory so that an unprivileged demo works.
public struct HostConfig: Sendable {
    public var stateDirectory: String
    public var values: [String: String]

    /// Every name this version reads; others in the file are errors (a typo must not
    /// silently fall back to a default).
    public static let knownNames: [String] = [
        "CH_BINARY", "CH_SOCKETS_PATH", "CH_SANDBOXES_PATH", "CH_SNAPSHOTS_PATH", "CH_IMAGES_PATH", "CH_KERNEL_PATH",
        "CH_INITRAMFS_PATH", "CH_FIRMWARE_PATH", "CH_BASE_IMAGE_PATH", "CH_CMDLINE", "CH_API_TIMEOUT", "CH_GUEST_AGENT_PORT", "CH_DEFAULT_CPUS", "CH_DEFAULT_MEMORY_MB",
        "CH_DEFAULT_DISK_GB", "CVD_PATH", "CVD_ADB_PATH", "CVD_HOME", "CVD_ARTIFACTS_PATH", "CVD_INSTANCES_PATH",
        "CVD_ADB_BASE_PORT", "CVD_MAX_INSTANCES", "CVD_DEFAULT_CPUS", "CVD_DEFAULT_MEMORY_MB", "QEMU_BINARY", "QEMU_ACCEL",
        "QEMU_MACHINE", "QEMU_KERNEL_PATH", "QEMU_INITRAMFS_PATH", "QEMU_CMDLINE", "QEMU_SANDBOXES_PATH", "QEMU_SOCKETS_PATH",
        "QEMU_IMAGES_PATH", "QEMU_IMG", "CONVERGE_NETWORK_PATH", "CONVERGE_NET_PREFIX", "CVD_TMP_PATH", "CVD_LOCK_PATH",
        // The Daytona bridge (`converge daytona`).
        "DAYTONA_API_URL", "DAYTONA_RUNNER_TOKEN", "POLL_TIMEOUT", "POLL_LIMIT", "HEALTHCHECK_INTERVAL", "DAYTONA_LINUX_RUNTIME",
        "DAYTONA_FAIL_AFTER",
        // The snapshot registry (an S3-compatible store), under the runners' names.
        "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_BUCKET",
        "CONVERGE_REGISTRY_PART_SIZE", "CONVERGE_REGISTRY_PARALLEL",
    ]

    /// Loads `file` (if given, or `STATE/config.yaml` if present) and the environment.
    /// - Throws: `Diagnostic` for a malformed file or unknown name, pointing at it.
    public static func load(stateDirectory: String, file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> HostConfig {
        var values: [String: String] = [:]
        let path = file ?? "\(stateDirectory)/config.yaml"
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self)
            for document in try YAMLDocuments.parse(text, file: path) {
                guard case .mapping(let pairs, _) = document.root else {
                    throw Diagnostic(file: path, mark: document.root.mark, message: "host configuration must be a mapping of NAME: value")
                }
                for pair in pairs {
                    guard knownNames.contains(pair.key.text) else {
                        throw Diagnostic(file: path, mark: pair.key.mark, message: "unknown host setting '\(pair.key.text)' (known: \(knownNames.joined(separator: ", ")))")
                    }
                    guard case .scalar(let value) = pair.value else {
                        throw Diagnostic(file: path, mark: pair.value.mark, message: "\(pair.key.text) must be a scalar")
                    }
                    values[pair.key.text] = value.text
                }
            }
        } else if file != nil {
            throw Diagnostic(file: path, mark: .start, message: "cannot read the host configuration file")
        }
        for name in knownNames { if let v = environment[name], !v.isEmpty { values[name] = v } }
        // A relative path (`dir/file`) is taken from the working directory now, once: VMMs
        // and a daemon must not depend on where they run. A bare name is left as written.
        for (name, value) in values where name.hasSuffix("_PATH") && !value.hasPrefix("/") && value.contains("/") {
            values[name] = Paths.absolute(value)
        }
        return HostConfig(stateDirectory: stateDirectory, values: values)
    }

    public init(stateDirectory: String, values: [String: String] = [:]) {
        self.stateDirectory = stateDirectory
        self.values = values
    }

    private func path(_ name: String, default relative: String) -> String {
        values[name] ?? "\(stateDirectory)/\(relative)"
    }

    // MARK: - Cloud Hypervisor

    public var chBinary: String { values["CH_BINARY"] ?? "/usr/local/bin/cloud-hypervisor" }
    public var chSockets: String { path("CH_SOCKETS_PATH", default: "ch/sockets") }
    public var chSandboxes: String { path("CH_SANDBOXES_PATH", default: "ch/sandboxes") }
    public var chSnapshots: String { path("CH_SNAPSHOTS_PATH", default: "ch/snapshots") }
    public var chImages: String { path("CH_IMAGES_PATH", default: "ch/images") }
    public var chKernel: String { path("CH_KERNEL_PATH", default: "ch/kernels/vmlinux") }
    public var chInitramfs: String? { values["CH_INITRAMFS_PATH"] }
    public var chFirmware: String? { values["CH_FIRMWARE_PATH"] }
    public var chBaseImage: String? { values["CH_BASE_IMAGE_PATH"] }
    public var chCmdline: String { values["CH_CMDLINE"] ?? "console=ttyS0 root=/dev/vda1 rw" }
    public var qemuImg: String? { values["QEMU_IMG"] }

    /// Deadline of one call to a VMM's API (`CH_API_TIMEOUT`, a duration; default 10s).
    public func chAPITimeout() throws -> Double {
        guard let text = values["CH_API_TIMEOUT"] else { return 10 }
        guard let d = SpecDuration(parsing: text), d.milliseconds > 0 else {
            throw HostConfigError(name: "CH_API_TIMEOUT", value: text, expected: "a duration such as 10s or 500ms")
        }
        return Double(d.milliseconds) / 1000
    }

    /// The vsock port of the guest agent that reports memory use (`CH_GUEST_AGENT_PORT`;
    /// default 2280, docs/guest-agent.md).
    public func chGuestAgentPort() throws -> UInt32 {
        guard let text = values["CH_GUEST_AGENT_PORT"] else { return 2280 }
        guard let port = UInt32(text), port > 0 else {
            throw HostConfigError(name: "CH_GUEST_AGENT_PORT", value: text, expected: "a vsock port number (1 to 4294967295)")
        }
        return port
    }

    // MARK: - QEMU

    public var qemuBinary: String { values["QEMU_BINARY"] ?? Executables.find("qemu-system-x86_64") ?? "/usr/bin/qemu-system-x86_64" }
    public var qemuMachine: String { values["QEMU_MACHINE"] ?? "q35" }
    public var qemuKernel: String { path("QEMU_KERNEL_PATH", default: "qemu/kernels/vmlinuz") }
    public var qemuInitramfs: String? { values["QEMU_INITRAMFS_PATH"] }
    public var qemuCmdline: String { values["QEMU_CMDLINE"] ?? "console=ttyS0 panic=-1" }
    public var qemuSandboxes: String { path("QEMU_SANDBOXES_PATH", default: "qemu/sandboxes") }
    public var qemuSockets: String { path("QEMU_SOCKETS_PATH", default: "qemu/sockets") }
    /// Base images for `source.image`; by default the same directory as Cloud Hypervisor's.
    public var qemuImages: String { values["QEMU_IMAGES_PATH"] ?? chImages }

    /// `QEMU_ACCEL`: `kvm` or `tcg`. By default `kvm` where the CPU has hardware
    /// virtualization (`vmx`/`svm`) and /dev/kvm opens, else `tcg` (software emulation: a
    /// paravirtual /dev/kvm without those flags cannot boot a stock kernel).
    public func qemuAccel() throws -> String {
        if let value = values["QEMU_ACCEL"] {
            guard value == "kvm" || value == "tcg" else { throw HostConfigError(name: "QEMU_ACCEL", value: value, expected: "kvm or tcg") }
            return value
        }
        // Every command wires the runtimes: /proc/cpuinfo is read only where /dev/kvm opens.
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return "tcg" }
        close(fd)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ")) } ?? []
        return flags.contains("vmx") || flags.contains("svm") ? "kvm" : "tcg"
    }

    // MARK: - Cuttlefish

    public var cvdBinary: String { values["CVD_PATH"] ?? Executables.find("cvd") ?? "/usr/bin/cvd" }
    public var cvdADB: String { values["CVD_ADB_PATH"] ?? Executables.find("adb") ?? "/usr/bin/adb" }
    /// The HOME cvd and adb run with; each group gets `CVD_HOME/<group>`, which is also how
    /// Converge tells its own groups from others'.
    public var cvdHome: String { path("CVD_HOME", default: "cuttlefish/home") }
    /// Host packages and device images: `source.image: NAME` is `CVD_ARTIFACTS_PATH/NAME`.
    public var cvdArtifacts: String { path("CVD_ARTIFACTS_PATH", default: "cuttlefish/artifacts") }
    /// Converge's per-sandbox records (`cvg-NAME/converge.json`).
    public var cvdInstances: String { path("CVD_INSTANCES_PATH", default: "cuttlefish/instances") }
    /// Where cvd keeps per-uid runtime files (`cf_avd_<uid>`, `cf_env_<uid>`): /tmp on a real host.
    public var cvdTmp: String { values["CVD_TMP_PATH"] ?? "/tmp" }
    /// cvd's instance lock files (`local-instance-<id>.lock`).
    public var cvdLocks: String { values["CVD_LOCK_PATH"] ?? "/var/tmp/cvd/lock" }

    /// `CVD_ADB_BASE_PORT` (6520): instance N's adb port is base + N − 1.
    public func cvdADBBasePort() throws -> Int { try integer("CVD_ADB_BASE_PORT", 6520, 1024...65000) }
    /// `CVD_MAX_INSTANCES` (10, cuttlefish-host-resources' default `num_cvd_accounts`).
    public func cvdMaxInstances() throws -> Int { try integer("CVD_MAX_INSTANCES", 10, 1...128) }

    private func integer(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Int {
        guard let text = values[name] else { return fallback }
        guard let v = Int(text), range.contains(v) else {
            throw HostConfigError(name: name, value: text, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    public var networkRecords: String { path("CONVERGE_NETWORK_PATH", default: "network") }

    /// The first letters of every network object's name (namespaces, links, the nftables
    /// table): `cvg` by default; 1 to 5 lowercase letters or digits, so that interface
    /// names fit in 15 bytes. Tests use their own prefix so they never touch the host's.
    public func networkPrefix() throws -> String {
        let value = values["CONVERGE_NET_PREFIX"] ?? "cvg"
        guard (1...5).contains(value.count), value.allSatisfy({ ($0.isLowercase || $0.isNumber) && $0.isASCII }), value.first!.isLetter else {
            throw HostConfigError(name: "CONVERGE_NET_PREFIX", value: value, expected: "1 to 5 lowercase letters or digits, starting with a letter")
        }
        return value
    }

    /// Defaults for what sandbox specs leave out.
    public func defaults() throws -> HostDefaults {
        func int(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let text = values[name] else { return fallback }
            guard let v = Int(text), range.contains(v) else {
                throw HostConfigError(name: name, value: text, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        var defaults = HostDefaults(cpus: try int("CH_DEFAULT_CPUS", 2, 1...256),
                                    memory: .mebibytes(Int64(try int("CH_DEFAULT_MEMORY_MB", 2048, 1024...4_194_304))),
                                    disk: .gibibytes(Int64(try int("CH_DEFAULT_DISK_GB", 20, 1...65536))))
        // cvd's own defaults: 4 vCPUs, 4 GiB (runner-android's CVD_DEFAULT_*).
        defaults.perRuntime[.cuttlefish] = .init(cpus: try int("CVD_DEFAULT_CPUS", 4, 1...256),
                                                 memory: .mebibytes(Int64(try int("CVD_DEFAULT_MEMORY_MB", 4096, 2048...4_194_304))))
        return defaults
    }
}

/// A host setting with a value of the wrong shape.
public struct HostConfigError: Error, Sendable, CustomStringConvertible {
    public var name: String
    public var value: String
    public var expected: String
    public var description: String { "host setting \(name)=\(value) must be \(expected)" }
}
