/// The request-body schemas of `cloud-hypervisor-openapi.yaml` (components/schemas) that the
/// simulator checks. Where the OpenAPI file marks a member required but also gives it a default
/// (`FsConfig.num_queues`), the server's serde default wins and the member is optional here.
enum Schemas {
    // MARK: - Small building blocks

    static let tokenBucket = ObjectSchema(name: "TokenBucket", fields: [
        req("size", .u64), opt("one_time_burst", .u64), req("refill_time", .u64),
    ])

    static let rateLimiter = ObjectSchema(name: "RateLimiterConfig", fields: [
        opt("bandwidth", .object(tokenBucket)), opt("ops", .object(tokenBucket)),
    ])

    static let rateLimitGroup = ObjectSchema(name: "RateLimitGroupConfig", fields: [
        req("id", .string), req("rate_limiter_config", .object(rateLimiter)),
    ])

    static let virtQueueAffinity = ObjectSchema(name: "VirtQueueAffinity", fields: [
        req("queue_index", .int), req("host_cpus", .array(.int)),
    ])

    static let pciPlacement: [Field] = [opt("pci_segment", .u16), opt("pci_device_id", .u8)]

    // MARK: - CPUs, memory, payload

    static let cpus = ObjectSchema(name: "CpusConfig", fields: [
        req("boot_vcpus", .integer(min: 1, max: Int64(UInt32.max))),
        req("max_vcpus", .integer(min: 1, max: Int64(UInt32.max))),
        opt("topology", .object(ObjectSchema(name: "CpuTopology", fields: [
            opt("threads_per_core", .u8), opt("cores_per_die", .u8), opt("dies_per_package", .u8), opt("packages", .u8),
        ]))),
        dflt("kvm_hyperv", .bool, .bool(false)),
        opt("max_phys_bits", .u8),
        dflt("nested", .bool, .bool(true)),
        opt("affinity", .array(.object(ObjectSchema(name: "CpuAffinity", fields: [
            req("vcpu", .int), req("host_cpus", .array(.int)),
        ])))),
        opt("features", .object(ObjectSchema(name: "CpuFeatures", fields: [opt("amx", .bool)]))),
        dflt("core_scheduling", .enumeration(["Vm", "Vcpu", "Off"]), .string("Vm")),
    ])

    static let memoryZone = ObjectSchema(name: "MemoryZoneConfig", fields: [
        req("id", .string), req("size", .u64), opt("file", .string),
        dflt("mergeable", .bool, .bool(false)), dflt("shared", .bool, .bool(false)),
        dflt("hugepages", .bool, .bool(false)), opt("hugepage_size", .u64), opt("host_numa_node", .u32),
        opt("hotplug_size", .u64), opt("hotplugged_size", .u64),
        dflt("prefault", .bool, .bool(false)), dflt("reserve", .bool, .bool(false)),
    ])

    /// Cloud Hypervisor's `HotplugMethod` serde variants; the command line spells them `acpi` / `virtio-mem`.
    static let hotplugMethods = ["Acpi", "VirtioMem"]

    static let memory = ObjectSchema(name: "MemoryConfig", fields: [
        req("size", .u64), opt("hotplug_size", .u64), opt("hotplugged_size", .u64),
        dflt("mergeable", .bool, .bool(false)),
        dflt("hotplug_method", .enumeration(hotplugMethods), .string("Acpi")),
        dflt("shared", .bool, .bool(false)), dflt("hugepages", .bool, .bool(false)), opt("hugepage_size", .u64),
        dflt("prefault", .bool, .bool(false)), dflt("reserve", .bool, .bool(false)), dflt("thp", .bool, .bool(true)),
        opt("zones", .array(.object(memoryZone))),
    ])

    static let payload = ObjectSchema(name: "PayloadConfig", fields: [
        opt("firmware", .string), opt("kernel", .string), opt("cmdline", .string),
        opt("initramfs", .string), opt("igvm", .string), opt("host_data", .string),
    ])

    // MARK: - Devices

    static let disk = ObjectSchema(name: "DiskConfig", fields: [
        opt("path", .string),
        dflt("readonly", .bool, .bool(false)), dflt("direct", .bool, .bool(false)), dflt("iommu", .bool, .bool(false)),
        dflt("num_queues", .int, .int(1)), dflt("queue_size", .u16, .int(128)),
        dflt("vhost_user", .bool, .bool(false)), opt("vhost_socket", .string),
        opt("rate_limiter_config", .object(rateLimiter)),
        opt("id", .string), opt("serial", .string), opt("rate_limit_group", .string),
        opt("queue_affinity", .array(.object(virtQueueAffinity))),
        dflt("backing_files", .bool, .bool(false)), dflt("sparse", .bool, .bool(true)),
        opt("image_type", .enumeration(["FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown"])),
        dflt("lock_granularity", .enumeration(["ByteRange", "Full"]), .string("ByteRange")),
    ] + pciPlacement)

    static let net = ObjectSchema(name: "NetConfig", fields: [
        opt("tap", .string),
        dflt("ip", .string, .string("192.168.249.1")), dflt("mask", .string, .string("255.255.255.0")),
        opt("mac", .string), opt("host_mac", .string), opt("mtu", .u16),
        dflt("iommu", .bool, .bool(false)), dflt("num_queues", .int, .int(2)), dflt("queue_size", .u16, .int(256)),
        dflt("vhost_user", .bool, .bool(false)), opt("vhost_socket", .string),
        dflt("vhost_mode", .enumeration(["Client", "Server"]), .string("Client")),
        opt("id", .string), opt("rate_limiter_config", .object(rateLimiter)),
        dflt("offload_tso", .bool, .bool(true)), dflt("offload_ufo", .bool, .bool(true)),
        dflt("offload_csum", .bool, .bool(true)),
    ] + pciPlacement)

    static let rng = ObjectSchema(name: "RngConfig", fields: [
        req("src", .string), opt("id", .string), dflt("iommu", .bool, .bool(false)),
    ] + pciPlacement)

    static let balloon = ObjectSchema(name: "BalloonConfig", fields: [
        opt("id", .string), dflt("iommu", .bool, .bool(false)), req("size", .u64),
        dflt("deflate_on_oom", .bool, .bool(false)), dflt("free_page_reporting", .bool, .bool(false)),
    ] + pciPlacement)

    static let fs = ObjectSchema(name: "FsConfig", fields: [
        req("tag", .string), req("socket", .string),
        dflt("num_queues", .int, .int(1)), dflt("queue_size", .u16, .int(1024)), opt("id", .string),
    ] + pciPlacement)

    static let genericVhostUser = ObjectSchema(name: "GenericVhostUserConfig", fields: [
        req("socket", .string), req("queue_sizes", .array(.u16)), opt("id", .string), req("device_type", .u32),
    ] + pciPlacement)

    static let pmem = ObjectSchema(name: "PmemConfig", fields: [
        req("file", .string), opt("size", .u64), dflt("iommu", .bool, .bool(false)),
        dflt("discard_writes", .bool, .bool(false)), opt("id", .string),
    ] + pciPlacement)

    static let consoleModes = ["Off", "Pty", "Tty", "File", "Socket", "Null"]

    static let console = ObjectSchema(name: "ConsoleConfig", fields: [
        opt("file", .string), opt("socket", .string), req("mode", .enumeration(consoleModes)),
        dflt("iommu", .bool, .bool(false)), opt("id", .string),
    ] + pciPlacement)

    static let serial = ObjectSchema(name: "SerialConfig", fields: [
        opt("file", .string), opt("socket", .string), req("mode", .enumeration(consoleModes)),
    ])

    static let debugConsole = ObjectSchema(name: "DebugConsoleConfig", fields: [
        opt("file", .string), req("mode", .enumeration(consoleModes)), opt("iobase", .int),
    ])

    static let device = ObjectSchema(name: "DeviceConfig", fields: [
        opt("path", .string), dflt("iommu", .bool, .bool(false)), opt("id", .string),
        opt("x_nv_gpudirect_clique", .integer(min: -128, max: 127)), opt("x_exclude_mmap_bars", .array(.int)),
    ] + pciPlacement)

    static let userDevice = ObjectSchema(name: "UserDeviceConfig", fields: [
        req("socket", .string), opt("id", .string),
    ] + pciPlacement)

    static let vdpa = ObjectSchema(name: "VdpaConfig", fields: [
        req("path", .string), dflt("num_queues", .int, .int(1)), dflt("iommu", .bool, .bool(false)), opt("id", .string),
    ] + pciPlacement)

    static let vsock = ObjectSchema(name: "VsockConfig", fields: [
        req("cid", .integer(min: 3, max: .max)), req("socket", .string), dflt("iommu", .bool, .bool(false)),
        opt("id", .string),
    ] + pciPlacement)

    static let numa = ObjectSchema(name: "NumaConfig", fields: [
        req("guest_numa_id", .u32), opt("cpus", .array(.int)),
        opt("distances", .array(.object(ObjectSchema(name: "NumaDistance", fields: [
            req("destination", .u32), req("distance", .u8),
        ])))),
        opt("memory_zones", .array(.string)), opt("pci_segments", .array(.int)), opt("device_id", .string),
    ])

    static let platform = ObjectSchema(name: "PlatformConfig", fields: [
        opt("num_pci_segments", .u16), opt("iommu_segments", .array(.u16)), opt("iommu_address_width_bits", .u8),
        opt("system_serial_number", .string), opt("serial_number", .string), opt("system_uuid", .string),
        opt("uuid", .string), opt("oem_strings", .array(.string)), opt("system_manufacturer", .string),
        opt("system_product_name", .string), opt("system_version", .string), opt("system_family", .string),
        opt("system_sku_number", .string), opt("chassis_asset_tag", .string),
        dflt("tdx", .bool, .bool(false)), dflt("sev_snp", .bool, .bool(false)),
        dflt("iommufd", .bool, .bool(false)), dflt("vfio_p2p_dma", .bool, .bool(true)),
    ])

    // MARK: - VmConfig

    /// 512 MiB: Cloud Hypervisor's default guest memory.
    static let defaultMemorySize: Int64 = 512 << 20

    /// `VmConfig`. The defaults for `cpus`, `memory`, `rng`, `serial` and `console` are the
    /// ones Cloud Hypervisor fills in when a body leaves them out.
    static let vmConfig = ObjectSchema(name: "VmConfig", fields: [
        dflt("cpus", .object(cpus), .object(["boot_vcpus": .int(1), "max_vcpus": .int(1)])),
        dflt("memory", .object(memory), .object(["size": .int(defaultMemorySize)])),
        req("payload", .object(payload)),
        opt("rate_limit_groups", .array(.object(rateLimitGroup))),
        opt("disks", .array(.object(disk))),
        opt("net", .array(.object(net))),
        dflt("rng", .object(rng), .object(["src": .string("/dev/urandom")])),
        opt("balloon", .object(balloon)),
        opt("fs", .array(.object(fs))),
        opt("generic_vhost_user", .array(.object(genericVhostUser))),
        opt("pmem", .array(.object(pmem))),
        dflt("serial", .object(serial), .object(["mode": .string("Null")])),
        dflt("console", .object(console), .object(["mode": .string("Tty")])),
        opt("debug_console", .object(debugConsole)),
        opt("devices", .array(.object(device))),
        opt("user_devices", .array(.object(userDevice))),
        opt("vdpa", .array(.object(vdpa))),
        opt("vsock", .object(vsock)),
        opt("numa", .array(.object(numa))),
        dflt("iommu", .bool, .bool(false)),
        dflt("watchdog", .bool, .bool(false)),
        opt("rtc", .object(ObjectSchema(name: "RtcConfig", fields: [opt("id", .string), dflt("iommu", .bool, .bool(false))] + pciPlacement))),
        dflt("pvpanic", .bool, .bool(false)),
        opt("pci_segments", .array(.object(ObjectSchema(name: "PciSegmentConfig", fields: [
            req("pci_segment", .u16), opt("mmio32_aperture_weight", .u32), opt("mmio64_aperture_weight", .u32),
        ])))),
        opt("platform", .object(platform)),
        opt("tpm", .object(ObjectSchema(name: "TpmConfig", fields: [req("socket", .string)]))),
        dflt("landlock_enable", .bool, .bool(false)),
        opt("landlock_rules", .array(.object(ObjectSchema(name: "LandlockConfig", fields: [
            req("path", .string), req("access", .string),
        ])))),
    ])

    // MARK: - Action bodies

    static let vmResize = ObjectSchema(name: "VmResize", fields: [
        opt("desired_vcpus", .integer(min: 1, max: Int64(UInt32.max))), opt("desired_ram", .u64), opt("desired_balloon", .u64),
    ])

    static let vmResizeDisk = ObjectSchema(name: "VmResizeDisk", fields: [opt("id", .string), opt("desired_size", .u64)])

    static let vmSnapshot = ObjectSchema(name: "VmSnapshotConfig", fields: [opt("destination_url", .string)])

    /// `RestoreConfig`. `memory_restore_mode` accepts the OpenAPI spelling (`Copy`, `OnDemand`) and the
    /// command line's (`copy`, `ondemand`); `net_fds` is taken as-is (fds come over SCM_RIGHTS).
    static let restore = ObjectSchema(name: "RestoreConfig", fields: [
        req("source_url", .string), dflt("prefault", .bool, .bool(false)),
        dflt("memory_restore_mode", .enumeration(["Copy", "OnDemand", "copy", "ondemand", "on_demand"]), .string("Copy")),
        dflt("resume", .bool, .bool(false)), opt("net_fds", .any),
        opt("zone_updates", .array(.any)),
    ])
}
