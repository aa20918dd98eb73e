import Reconciler
import Resources

extension QEMU {
    /// A QEMU sandbox runtime: the shared lifecycle around QEMU's adapter.
    public typealias Runtime = SandboxLifecycle<Adapter>
}

extension SandboxLifecycle where VMM == QEMU.Adapter {
    /// QEMU sandboxes under `QEMU_SANDBOXES_PATH`, QMP sockets under `QEMU_SOCKETS_PATH`,
    /// base images from `QEMU_IMAGES_PATH` (by default Cloud Hypervisor's).
    public init(config: HostConfig) throws {
        self.init(vmm: try QEMU.Adapter(config: config),
                  layout: SandboxLayout(sandboxesDirectory: config.qemuSandboxes, socketsDirectory: config.qemuSockets),
                  images: ImageResolver(imagesDirectory: config.qemuImages, snapshotsDirectory: config.chSnapshots, baseImage: nil),
                  disks: QemuImg(binary: config.qemuImg))
    }

    /// Deadline of one QMP call.
    public var apiTimeout: Double { get { vmm.apiTimeout } set { vmm.apiTimeout = newValue } }
}
