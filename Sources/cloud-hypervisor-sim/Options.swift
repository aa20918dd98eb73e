/// The version strings the simulator reports.
enum SimVersion {
    /// `VmmPingResponse.version`.
    static let version = "v53.0.0"
    /// `VmmPingResponse.build_version`: says it is the simulator.
    static let build = "v53.0.0-sim"
}

/// Cloud Hypervisor's command line, as far as the simulator understands it.
///
/// Flags take their value as the next argument or after `=`. Flags whose effect is not simulated
/// (`--serial`, `--console`, `--seccomp`, ...) are accepted and recorded in `ignored`.
struct Options: Sendable {
    /// Where the API is served.
    enum APISocket: Equatable, Sendable {
        case path(String)
        case fd(Int32)
    }

    var apiSocket: APISocket?
    var logFile: String?
    var verbosity = 0
    var noShutdown = false
    var showVersion = false
    var showHelp = false
    var kernel: String?
    var firmware: String?
    var initramfs: String?
    var cmdline: String?
    var cpus: String?
    var memory: String?
    var disks: [String] = []
    var nets: [String] = []
    var balloon: String?
    var vsock: String?
    var serial: String?
    var console: String?
    var restore: String?
    /// Accepted flags without a simulated effect, with their values.
    var ignored: [(flag: String, value: String?)] = []

    /// A command-line error: printed to stderr, exit status 1.
    struct UsageError: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    /// Flags that take a value and whose value the simulator uses.
    private static let valueFlags: Set<String> = [
        "--api-socket", "--log-file", "--kernel", "--firmware", "--initramfs", "--cmdline", "--cpus", "--memory",
        "--disk", "--net", "--balloon", "--vsock", "--serial", "--console", "--restore",
    ]
    /// Flags that take a value the simulator only records.
    private static let recordedValueFlags: Set<String> = [
        "--seccomp", "--event-monitor", "--platform", "--fs", "--pmem", "--device", "--user-device",
        "--vdpa", "--numa", "--memory-zone", "--landlock-rules", "--debug-console", "--tpm", "--rate-limit-group",
        "--igvm", "--host-data", "--gdb", "--pci-segment",
    ]
    /// Flags without a value that the simulator only records.
    private static let recordedSwitches: Set<String> = ["--watchdog", "--pvpanic", "--landlock", "--iommu"]
    /// Flags that may be given several values at once (`--disk path=a path=b`).
    private static let multiValueFlags: Set<String> = ["--disk", "--net", "--fs", "--pmem", "--device", "--landlock-rules"]

    /// Parses `arguments` (without the program name).
    ///
    /// - Throws: `UsageError` for an unknown flag or a missing value.
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var i = 0
        while i < arguments.count {
            var flag = arguments[i]
            var inlineValue: String?
            i += 1
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inlineValue = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            if flag.count >= 2, flag.hasPrefix("-"), !flag.hasPrefix("--"), flag.dropFirst().allSatisfy({ $0 == "v" }) {
                options.verbosity += flag.count - 1
                continue
            }
            switch flag {
            case "--version", "-V": options.showVersion = true; continue
            case "--help", "-h": options.showHelp = true; continue
            case "--no-shutdown": options.noShutdown = true; continue
            case "--rng":
                // `--rng` takes an optional value.
                if inlineValue == nil, i < arguments.count, !arguments[i].hasPrefix("-") { inlineValue = arguments[i]; i += 1 }
                options.ignored.append((flag, inlineValue))
                continue
            default: break
            }
            if recordedSwitches.contains(flag) {
                options.ignored.append((flag, nil))
                continue
            }
            guard valueFlags.contains(flag) || recordedValueFlags.contains(flag) else {
                throw UsageError(description: "error: unexpected argument '\(arguments[i - 1])' found")
            }
            var values: [String] = []
            if let inlineValue {
                values.append(inlineValue)
            } else {
                guard i < arguments.count else {
                    throw UsageError(description: "error: a value is required for '\(flag) <\(flag.dropFirst(2))>' but none was supplied")
                }
                values.append(arguments[i])
                i += 1
            }
            if multiValueFlags.contains(flag) {
                while i < arguments.count, !arguments[i].hasPrefix("-") {
                    values.append(arguments[i])
                    i += 1
                }
            }
            for value in values { try options.apply(flag, value) }
        }
        return options
    }

    private mutating func apply(_ flag: String, _ value: String) throws(UsageError) {
        switch flag {
        case "--api-socket": apiSocket = try Self.parseAPISocket(value)
        case "--log-file": logFile = value
        case "--kernel": kernel = value
        case "--firmware": firmware = value
        case "--initramfs": initramfs = value
        case "--cmdline": cmdline = value
        case "--cpus": cpus = value
        case "--memory": memory = value
        case "--disk": disks.append(value)
        case "--net": nets.append(value)
        case "--balloon": balloon = value
        case "--vsock": vsock = value
        case "--serial": serial = value
        case "--console": console = value
        case "--restore": restore = value
        default: ignored.append((flag, value))
        }
    }

    private static func parseAPISocket(_ value: String) throws(UsageError) -> APISocket {
        guard value.contains("=") else { return .path(value) }
        let pairs = try KeyValueList.parse(value, flag: "--api-socket")
        if let fd = pairs["fd"] {
            guard let n = Int32(fd), n >= 0 else { throw UsageError(description: "error: invalid fd '\(fd)' for --api-socket") }
            return .fd(n)
        }
        guard let path = pairs["path"] else { throw UsageError(description: "error: --api-socket needs path= or fd=") }
        return .path(path)
    }

    /// The usage text for `--help`.
    static let usage = """
        cloud-hypervisor-sim: a simulator of the Cloud Hypervisor VMM's API (see README.md)

        Usage: cloud-hypervisor [OPTIONS]
          --api-socket <path=SOCK|fd=N|SOCK>   serve the REST API
          --kernel, --firmware, --initramfs, --cmdline, --cpus, --memory, --disk, --net, --balloon, --vsock
                                               create and boot a VM at start
          --restore source_url=file:///DIR[,resume=true][,memory_restore_mode=ondemand|copy][,prefault=on]
          --no-shutdown                        keep the VMM running when the guest powers off
          --log-file, --serial, --console, --seccomp, --event-monitor, -v   accepted, not simulated
          -V, --version                        print the version
        """
}

/// Parses Cloud Hypervisor's `key=value,key=value` option syntax, where brackets group commas
/// (`fd=[3,4]`).
enum KeyValueList {
    /// The pairs of `text`; a bare word without `=` is stored under the key "".
    ///
    /// - Throws: `Options.UsageError` for an empty key.
    static func parse(_ text: String, flag: String) throws(Options.UsageError) -> [String: String] {
        var result: [String: String] = [:]
        var depth = 0
        var current = ""
        var items: [String] = []
        for ch in text {
            if ch == "[" { depth += 1 }
            if ch == "]" { depth = max(0, depth - 1) }
            if ch == ",", depth == 0 {
                items.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        items.append(current)
        for item in items where !item.isEmpty {
            guard let eq = item.firstIndex(of: "=") else {
                result[""] = item
                continue
            }
            let key = String(item[..<eq])
            guard !key.isEmpty else { throw Options.UsageError(description: "error: invalid value '\(text)' for '\(flag)'") }
            result[key] = String(item[item.index(after: eq)...])
        }
        return result
    }
}
