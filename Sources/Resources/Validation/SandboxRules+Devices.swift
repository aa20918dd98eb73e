/// Spec rules for runtimes whose devices are launched by their own tool (Cuttlefish's cvd).
extension SandboxRules {
    /// Cloud Hypervisor and QEMU run in a TapPool slot; a Cuttlefish device uses the TAPs
    /// its host provisions for its instance number.
    public static func usesTapPools(_ runtime: Runtime) -> Bool { runtime != .cuttlefish }

    /// A runtime whose memory can be saved only from a device launched for it (Cuttlefish:
    /// `--snapshot_compatible`, i.e. no virtio-fs, GPU acceleration or USB, as crosvm cannot
    /// sleep those devices).
    public static func needsSnapshotCompatibleLaunch(_ runtime: Runtime) -> Bool { runtime == .cuttlefish }

    /// Reads `spec.snapshotCompatible` and checks it against the runtime and `spec.state`:
    /// it is a Cuttlefish setting, and a Cuttlefish sandbox asking for `paused` or `suspended`
    /// needs it (both suspend the device's vCPUs and devices through crosvm).
    /// - Returns: true when the spec asks for it, nil otherwise.
    static func snapshotCompatibility(_ node: Node?, runtime: Runtime?, state: PowerState?, stateMark: Mark,
                                      context: DecodeContext) -> Bool? {
        let asked = node.flatMap { context.bool($0, "spec.snapshotCompatible") } ?? false
        guard let runtime else { return asked ? true : nil }
        if let node, asked, !needsSnapshotCompatibleLaunch(runtime) {
            context.error(node.mark, "spec.snapshotCompatible applies to runtime cuttlefish only; \(runtime.rawValue) saves a VM's memory without it (remove the field)")
        }
        if let state, state == .suspended || state == .paused, needsSnapshotCompatibleLaunch(runtime), !asked {
            context.error(stateMark, "spec.state \(state.rawValue) needs spec.snapshotCompatible: true with runtime \(runtime.rawValue): a device can be suspended (and its memory saved) only when it was launched without virtio-fs, GPU acceleration and USB (cvd --snapshot_compatible), which crosvm cannot suspend")
        }
        return asked ? true : nil
    }
}
