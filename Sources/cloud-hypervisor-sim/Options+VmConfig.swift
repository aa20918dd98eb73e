// MARK: - Command-line boot and restore

extension Options {
    /// Whether the command line asks to create and boot a VM at start.
    var bootsFromCommandLine: Bool { kernel != nil || firmware != nil }

    /// The `VmConfig` the command line describes, in API JSON, before normalisation.
    ///
    /// `--cpus boot=N` alone gives `max_vcpus = N`; `--memory` sizes take K/M/G suffixes
    /// (binary); `hotplug_method=acpi|virtio-mem` maps to `Acpi`/`VirtioMem`.
    /// - Throws: `UsageError` for a malformed value.
    func vmConfigJSON() throws(UsageError) -> JSONValue {
        var config: [String: JSONValue] = [:]
        var payload: [String: JSONValue] = [:]
        if let kernel { payload["kernel"] = .string(kernel) }
        if let firmware { payload["firmware"] = .string(firmware) }
        if let initramfs { payload["initramfs"] = .string(initramfs) }
        if let cmdline { payload["cmdline"] = .string(cmdline) }
        config["payload"] = .object(payload)

        if let cpus {
            let kv = try KeyValueList.parse(cpus, flag: "--cpus")
            let boot = try Self.integer(kv["boot"] ?? "1", "--cpus")
            let max = try kv["max"].map { (v: String) throws(UsageError) in try Self.integer(v, "--cpus") } ?? boot
            config["cpus"] = .object(["boot_vcpus": .int(boot), "max_vcpus": .int(max)])
        }
        if let memory {
            let kv = try KeyValueList.parse(memory, flag: "--memory")
            var m: [String: JSONValue] = ["size": .int(try Self.size(kv["size"] ?? "512M", "--memory"))]
            if let v = kv["hotplug_size"] { m["hotplug_size"] = .int(try Self.size(v, "--memory")) }
            if let v = kv["hotplugged_size"] { m["hotplugged_size"] = .int(try Self.size(v, "--memory")) }
            if let v = kv["hotplug_method"] {
                switch v.lowercased() {
                case "acpi": m["hotplug_method"] = .string("Acpi")
                case "virtio-mem": m["hotplug_method"] = .string("VirtioMem")
                default: throw UsageError(description: "error: invalid hotplug_method '\(v)' for '--memory'")
                }
            }
            for key in ["shared", "hugepages", "mergeable", "prefault", "thp"] {
                if let v = kv[key] { m[key] = .bool(try Self.toggle(v, "--memory")) }
            }
            config["memory"] = .object(m)
        }
        if !disks.isEmpty {
            config["disks"] = .array(try disks.map { (text: String) throws(UsageError) in try Self.disk(text) })
        }
        if !nets.isEmpty {
            config["net"] = .array(try nets.map { (text: String) throws(UsageError) in try Self.net(text) })
        }
        if let balloon {
            let kv = try KeyValueList.parse(balloon, flag: "--balloon")
            var b: [String: JSONValue] = ["size": .int(try Self.size(kv["size"] ?? "0", "--balloon"))]
            for key in ["deflate_on_oom", "free_page_reporting"] {
                if let v = kv[key] { b[key] = .bool(try Self.toggle(v, "--balloon")) }
            }
            config["balloon"] = .object(b)
        }
        if let vsock {
            let kv = try KeyValueList.parse(vsock, flag: "--vsock")
            var v: [String: JSONValue] = [:]
            if let cid = kv["cid"] { v["cid"] = .int(try Self.integer(cid, "--vsock")) }
            for key in ["socket", "id"] { if let value = kv[key] { v[key] = .string(value) } }
            if let iommu = kv["iommu"] { v["iommu"] = .bool(try Self.toggle(iommu, "--vsock")) }
            config["vsock"] = .object(v)
        }
        if let serial { config["serial"] = try Self.console(serial, "--serial") }
        if let console { config["console"] = try Self.console(console, "--console") }
        return .object(config)
    }

    /// The `RestoreConfig` of `--restore source_url=...,resume=true,...`.
    ///
    /// - Throws: `UsageError` for a malformed value.
    func restoreJSON() throws(UsageError) -> JSONValue? {
        guard let restore else { return nil }
        let kv = try KeyValueList.parse(restore, flag: "--restore")
        guard let url = kv["source_url"] else { throw UsageError(description: "error: --restore needs source_url=") }
        var r: [String: JSONValue] = ["source_url": .string(url)]
        if let v = kv["resume"] { r["resume"] = .bool(try Self.toggle(v, "--restore")) }
        if let v = kv["prefault"] { r["prefault"] = .bool(try Self.toggle(v, "--restore")) }
        if let v = kv["memory_restore_mode"] { r["memory_restore_mode"] = .string(v) }
        return .object(r)
    }

    // MARK: - Value parsers

    private static func disk(_ text: String) throws(UsageError) -> JSONValue {
        let kv = try KeyValueList.parse(text, flag: "--disk")
        var d: [String: JSONValue] = [:]
        for key in ["path", "id", "serial", "vhost_socket"] { if let v = kv[key] { d[key] = .string(v) } }
        if let v = kv["socket"] { d["vhost_socket"] = .string(v) }
        for key in ["readonly", "direct", "iommu", "vhost_user", "sparse"] {
            if let v = kv[key] { d[key] = .bool(try toggle(v, "--disk")) }
        }
        for key in ["num_queues", "queue_size"] { if let v = kv[key] { d[key] = .int(try integer(v, "--disk")) } }
        return .object(d)
    }

    private static func net(_ text: String) throws(UsageError) -> JSONValue {
        let kv = try KeyValueList.parse(text, flag: "--net")
        var n: [String: JSONValue] = [:]
        for key in ["tap", "mac", "host_mac", "ip", "mask", "id", "vhost_socket"] { if let v = kv[key] { n[key] = .string(v) } }
        for key in ["num_queues", "queue_size", "mtu"] { if let v = kv[key] { n[key] = .int(try integer(v, "--net")) } }
        for key in ["iommu", "vhost_user"] { if let v = kv[key] { n[key] = .bool(try toggle(v, "--net")) } }
        return .object(n)
    }

    private static func console(_ text: String, _ flag: String) throws(UsageError) -> JSONValue {
        let kv = try KeyValueList.parse(text, flag: flag)
        if let file = kv["file"] { return .object(["mode": .string("File"), "file": .string(file)]) }
        if let socket = kv["socket"] { return .object(["mode": .string("Socket"), "socket": .string(socket)]) }
        switch (kv[""] ?? "").lowercased() {
        case "off": return .object(["mode": .string("Off")])
        case "pty": return .object(["mode": .string("Pty")])
        case "tty": return .object(["mode": .string("Tty")])
        case "null": return .object(["mode": .string("Null")])
        default: throw UsageError(description: "error: invalid value '\(text)' for '\(flag)'")
        }
    }

    /// A byte count with an optional binary K/M/G suffix.
    static func size(_ text: String, _ flag: String) throws(UsageError) -> Int64 {
        var digits = text
        var multiplier: Int64 = 1
        switch text.last {
        case "K", "k": multiplier = 1 << 10
        case "M", "m": multiplier = 1 << 20
        case "G", "g": multiplier = 1 << 30
        default: break
        }
        if multiplier != 1 { digits.removeLast() }
        guard let n = Int64(digits), n >= 0, n <= Int64.max / multiplier else {
            throw UsageError(description: "error: invalid size '\(text)' for '\(flag)'")
        }
        return n * multiplier
    }

    private static func integer(_ text: String, _ flag: String) throws(UsageError) -> Int64 {
        guard let n = Int64(text), n >= 0 else { throw UsageError(description: "error: invalid number '\(text)' for '\(flag)'") }
        return n
    }

    private static func toggle(_ text: String, _ flag: String) throws(UsageError) -> Bool {
        switch text.lowercased() {
        case "on", "true": return true
        case "off", "false": return false
        default: throw UsageError(description: "error: invalid toggle '\(text)' for '\(flag)'")
        }
    }
}
