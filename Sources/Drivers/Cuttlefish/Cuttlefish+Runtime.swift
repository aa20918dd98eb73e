import Reconciler
import Resources

extension Cuttlefish {
    /// A Cuttlefish sandbox runtime: the shared lifecycle around cvd's adapter.
    public typealias Runtime = SandboxLifecycle<Adapter>
}

extension SandboxLifecycle where VMM == Cuttlefish.Adapter {
    /// Records under `CVD_INSTANCES_PATH` (one `cvg-NAME/converge.json` each); cvd keeps the
    /// devices themselves. Snapshots share `CH_SNAPSHOTS_PATH` with the other runtimes.
    public init(config: HostConfig) throws {
        self.init(vmm: try Cuttlefish.Adapter(config: config),
                  layout: SandboxLayout(sandboxesDirectory: config.cvdInstances, socketsDirectory: "\(config.cvdInstances)/.run"),
                  images: ImageResolver(imagesDirectory: config.cvdArtifacts, snapshotsDirectory: config.chSnapshots, baseImage: nil),
                  disks: QemuImg(binary: config.qemuImg))
    }
}
