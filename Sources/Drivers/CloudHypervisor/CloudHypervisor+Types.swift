/// Wire types of CH's REST API. They keep the upstream names of
/// cloud-hypervisor-openapi.yaml (components/schemas) and send only the fields we set.
extension CloudHypervisor {
    /// `VmConfig`.
    public struct VmConfig: Codable, Sendable, Equatable {
        public var cpus: CpusConfig
        public var memory: MemoryConfig
        public var payload: PayloadConfig
        public var disks: [DiskConfig]?
        public var net: [NetConfig]?
        public var balloon: BalloonConfig?
        public var vsock: VsockConfig?
        public var serial: SerialConfig?
        public var console: ConsoleConfig?
        public var devices: [DeviceConfig]?
    }

    /// `CpusConfig`.
    public struct CpusConfig: Codable, Sendable, Equatable {
        public var boot_vcpus: Int
        public var max_vcpus: Int
    }

    /// `MemoryConfig`: `hotplug_size` reserves room to grow in place.
    public struct MemoryConfig: Codable, Sendable, Equatable {
        public var size: Int64
        public var hotplug_size: Int64?
        public var hotplugged_size: Int64?
        public var hotplug_method: String?
        public var shared: Bool?
    }

    /// `PayloadConfig`.
    public struct PayloadConfig: Codable, Sendable, Equatable {
        public var kernel: String?
        public var firmware: String?
        public var cmdline: String?
        public var initramfs: String?
    }

    /// `DiskConfig`.
    public struct DiskConfig: Codable, Sendable, Equatable {
        public var path: String?
        public var readonly: Bool?
        public var id: String?
        public var image_type: String?
    }

    /// `NetConfig`.
    public struct NetConfig: Codable, Sendable, Equatable {
        public var tap: String?
        public var ip: String?
        public var mask: String?
        public var mac: String?
        public var id: String?
    }

    /// `BalloonConfig`: `size` is memory taken from the guest, in bytes.
    public struct BalloonConfig: Codable, Sendable, Equatable {
        public var size: Int64
        public var deflate_on_oom: Bool?
        public var free_page_reporting: Bool?
    }

    /// `VsockConfig`: CH proxies the guest's vsock ports through the Unix socket `socket`.
    public struct VsockConfig: Codable, Sendable, Equatable {
        public var cid: Int64
        public var socket: String
    }

    /// `SerialConfig`.
    public struct SerialConfig: Codable, Sendable, Equatable {
        public var mode: String
        public var file: String?
    }

    /// `ConsoleConfig`.
    public struct ConsoleConfig: Codable, Sendable, Equatable {
        public var mode: String
        public var file: String?
    }

    /// `DeviceConfig` (VFIO passthrough).
    public struct DeviceConfig: Codable, Sendable, Equatable {
        public var path: String?
        public var id: String?
    }

    /// `VmInfo`. `state` stays a string: an unknown value must not fail decoding.
    public struct VmInfo: Codable, Sendable {
        public var config: VmConfig
        public var state: String
        /// A u64 in CH: it wraps when the balloon exceeds what is plugged (a memory shrink
        /// under an inflated balloon), so it must not fail decoding.
        public var memory_actual_size: UInt64?
    }

    /// The part of `VmInfo` observation reads (state, live size): decoding the whole
    /// config for hundreds of VMs every pass is most of an observation's CPU.
    public struct VmInfoSummary: Decodable, Sendable {
        public struct Config: Decodable, Sendable {
            public struct Cpus: Decodable, Sendable { public var boot_vcpus: Int }
            public struct Memory: Decodable, Sendable {
                public var size: Int64
                public var hotplugged_size: Int64?
            }
            public struct Balloon: Decodable, Sendable { public var size: Int64 }
            public var cpus: Cpus
            public var memory: Memory
            public var balloon: Balloon?
        }
        public var config: Config
        public var state: String
        /// A u64 in CH: it wraps when the balloon exceeds what is plugged (a memory shrink
        /// under an inflated balloon), so it must not fail decoding.
        public var memory_actual_size: UInt64?

        /// Boot memory plus what is hot-plugged.
        public var allocatedMemory: Int64 { config.memory.size + (config.memory.hotplugged_size ?? 0) }

        /// What the balloon holds: the memory the guest does not have (CH's
        /// `memory_actual_size` = allocated − balloon), else the balloon's configured size.
        public var balloonSize: Int64 {
            if let actual = memory_actual_size { return max(0, allocatedMemory - Int64(clamping: actual)) }
            return config.balloon?.size ?? 0
        }
    }

    /// `VmInfo`, decoding only the balloon's configured size: what a balloon change
    /// verifies, a thousand times in a balloon pass.
    public struct VmBalloonConfig: Decodable, Sendable {
        public struct Config: Decodable, Sendable { public var balloon: VmInfoSummary.Config.Balloon? }
        public var config: Config
    }

    /// `VmmPingResponse`.
    public struct VmmPingResponse: Codable, Sendable {
        public var version: String
        public var build_version: String?
        public var pid: Int64?
    }

    /// `VmResize`.
    public struct VmResize: Codable, Sendable, Equatable {
        public var desired_vcpus: Int?
        public var desired_ram: Int64?
        public var desired_balloon: Int64?
    }

    /// `VmSnapshotConfig`.
    public struct VmSnapshotConfig: Codable, Sendable, Equatable {
        public var destination_url: String
    }

    /// `RestoreConfig`.
    public struct RestoreConfig: Codable, Sendable, Equatable {
        public var source_url: String
        public var prefault: Bool?
        public var resume: Bool?
        /// `Copy` or `OnDemand` (userfaultfd: pages load on first touch).
        public var memory_restore_mode: String?
    }
}

