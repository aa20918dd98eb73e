import Foundation
import Reconciler
import Resources

extension CloudHypervisor {
    /// A Cloud Hypervisor sandbox runtime: the shared lifecycle around CH's adapter.
    public typealias Runtime = SandboxLifecycle<Adapter>
}

extension SandboxLifecycle where VMM == CloudHypervisor.Adapter {
    /// CH sandboxes under `CH_SANDBOXES_PATH`, sockets under `CH_SOCKETS_PATH`, base images
    /// from `CH_IMAGES_PATH` (and the runners' snapshot layout).
    public init(config: HostConfig) {
        self.init(vmm: CloudHypervisor.Adapter(config: config),
                  layout: SandboxLayout(sandboxesDirectory: config.chSandboxes, socketsDirectory: config.chSockets),
                  images: ImageResolver(imagesDirectory: config.chImages, snapshotsDirectory: config.chSnapshots, baseImage: config.chBaseImage),
                  disks: QemuImg(binary: config.qemuImg))
    }

    // The adapter's settings, where callers and tests have always set them.
    public var vmmEnvironment: [String: String] { get { vmm.vmmEnvironment } set { vmm.vmmEnvironment = newValue } }
    public var apiTimeout: Double { get { vmm.apiTimeout } set { vmm.apiTimeout = newValue } }
    public var guestAgentPort: UInt32 { get { vmm.guestAgentPort } set { vmm.guestAgentPort = newValue } }
    public var startTimeout: Double { get { vmm.startTimeout } set { vmm.startTimeout = newValue } }
    public var stopTimeout: Double { get { vmm.stopTimeout } set { vmm.stopTimeout = newValue } }

    func vmConfig(_ name: String, _ config: SandboxConfig, slot: NetworkSlot? = nil) -> CloudHypervisor.VmConfig {
        vmm.vmConfig(name, config, layout: layout, slot: slot)
    }
}
