/// The checks Cloud Hypervisor's `VmConfig::validate` makes, in the simulator's words.
///
/// Runs on `vm.create` bodies and on a snapshot's `config.json` before restoring it.
enum ConfigValidation {
    /// Parses, normalises and validates a `VmConfig`.
    ///
    /// - Parameter body: the raw request body.
    /// - Returns: the config with defaults filled in, as `vm.info` shows it.
    /// - Throws: `APIError` 400 (syntax, types, validation) or 409 (duplicate id or disk path).
    static func vmConfig(fromBody body: [UInt8]) throws(APIError) -> JSONValue {
        let json: JSONValue
        do { json = try JSONParser.parse(body) } catch { throw APIError.body(error.description) }
        return try vmConfig(from: json)
    }

    /// Normalises and validates an already-parsed `VmConfig`.
    ///
    /// - Throws: `APIError` 400 or 409.
    static func vmConfig(from json: JSONValue) throws(APIError) -> JSONValue {
        var config: JSONValue
        do { config = try Schemas.vmConfig.normalize(json, path: "") } catch {
            throw APIError.body(error.description)
        }
        try validate(config)
        fillGeneratedMACs(&config)
        return config
    }

    /// Parses a body against an action schema (`VmResize`, `RestoreConfig`, ...).
    ///
    /// - Throws: `APIError` 400.
    static func actionBody(_ body: [UInt8], _ schema: ObjectSchema) throws(APIError) -> JSONValue {
        let json: JSONValue
        do { json = try JSONParser.parse(body) } catch { throw APIError.body(error.description) }
        do { return try schema.normalize(json, path: "") } catch { throw APIError.body(error.description) }
    }

    // MARK: - Semantic checks

    private static func invalid(_ reason: String) -> APIError {
        APIError(.badRequest, "Invalid VM configuration", reason)
    }

    private static func validate(_ config: JSONValue) throws(APIError) {
        let payload = config["payload"] ?? .null
        if payload.present("kernel") == nil && payload.present("firmware") == nil && payload.present("igvm") == nil {
            throw invalid("No kernel specified")
        }
        let cpus = config["cpus"] ?? .null
        if let boot = cpus["boot_vcpus"]?.intValue, let max = cpus["max_vcpus"]?.intValue, max < boot {
            throw invalid("Max is less than boot")
        }
        let memory = config["memory"] ?? .null
        let total = MemoryAccounting(config: config).configuredTotal
        if memory["hotplug_size"]?.intValue != nil, memory["zones"]?.arrayValue != nil {
            throw invalid("Memory hotplug is not supported with user defined memory zones")
        }
        if let balloon = config.present("balloon"), let size = balloon["size"]?.intValue, size >= total {
            throw invalid("Balloon size (\(size)) must be smaller than RAM (\(total))")
        }
        for (i, disk) in (config["disks"]?.arrayValue ?? []).enumerated() {
            let vhostUser = disk["vhost_user"]?.boolValue ?? false
            if vhostUser && disk.present("vhost_socket") == nil {
                throw invalid("disks[\(i)]: vhost-user disk requires vhost_socket")
            }
            if !vhostUser && disk.present("path") == nil {
                throw invalid("disks[\(i)]: path is required unless vhost_user is set")
            }
        }
        for (i, net) in (config["net"]?.arrayValue ?? []).enumerated()
        where (net["vhost_user"]?.boolValue ?? false) && net.present("vhost_socket") == nil {
            throw invalid("net[\(i)]: vhost-user net requires vhost_socket")
        }
        try checkUnique(config)
    }

    /// 409 on a device id used twice or a disk path used twice.
    private static func checkUnique(_ config: JSONValue) throws(APIError) {
        var seenIDs: Set<String> = []
        let single = ["rng", "balloon", "vsock", "console", "rtc"]
        let lists = ["disks", "net", "fs", "pmem", "devices", "user_devices", "vdpa", "generic_vhost_user"]
        var devices: [JSONValue] = single.compactMap { config.present($0) }
        for list in lists { devices += config[list]?.arrayValue ?? [] }
        for device in devices {
            guard let id = device["id"]?.stringValue else { continue }
            guard seenIDs.insert(id).inserted else {
                throw APIError(.conflict, "Invalid VM configuration", "Identifier \(id) is not unique")
            }
        }
        var seenPaths: Set<String> = []
        for disk in config["disks"]?.arrayValue ?? [] {
            guard let path = disk["path"]?.stringValue else { continue }
            guard seenPaths.insert(path).inserted else {
                throw APIError(.conflict, "Invalid VM configuration", "Duplicate disk path \(path)")
            }
        }
    }

    /// Cloud Hypervisor gives a net device without `mac` a random locally administered one.
    private static func fillGeneratedMACs(_ config: inout JSONValue) {
        guard var nets = config["net"]?.arrayValue else { return }
        for i in nets.indices where nets[i].present("mac") == nil {
            var bytes = (0..<6).map { _ in UInt8.random(in: 0...255) }
            bytes[0] = (bytes[0] & 0xFE) | 0x02
            nets[i]["mac"] = .string(bytes.map { hex2($0) }.joined(separator: ":"))
        }
        config["net"] = .array(nets)
    }

    private static func hex2(_ byte: UInt8) -> String {
        let s = String(byte, radix: 16)
        return s.count == 1 ? "0" + s : s
    }
}

// MARK: - Memory arithmetic

/// The memory figures of a config: boot size, hotplugged amount, hotplug room and balloon.
struct MemoryAccounting {
    var bootSize: Int64
    var hotplugged: Int64
    var hotplugRoom: Int64
    var balloon: Int64
    var virtioMem: Bool

    init(config: JSONValue) {
        let memory = config["memory"] ?? .null
        bootSize = memory["size"]?.intValue ?? Schemas.defaultMemorySize
        hotplugged = memory["hotplugged_size"]?.intValue ?? 0
        hotplugRoom = memory["hotplug_size"]?.intValue ?? 0
        balloon = config.present("balloon")?["size"]?.intValue ?? 0
        virtioMem = memory["hotplug_method"]?.stringValue == "VirtioMem"
    }

    /// Boot memory plus hotplugged memory: `MemoryConfig::total_size()`.
    var configuredTotal: Int64 { bootSize &+ hotplugged }

    /// The most RAM `vm.resize` may ask for.
    var ceiling: Int64 { bootSize &+ hotplugRoom }
}
