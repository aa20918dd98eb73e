/// A VM's virtio-vsock device in Cloud Hypervisor's hybrid mode: host programs reach the guest
/// through a Unix stream socket at `VmConfig.vsock.socket` (docs/guest-agent.md, section 1).
///
/// It is created when the VM boots or is restored and lives in `BootedVM`, so dropping the VM
/// closes the listener and later connects are refused. Like Cloud Hypervisor, the simulator
/// never unlinks the socket file: whoever starts the VMM removes a stale one.
final class VsockDevice {
    /// The listening socket (non-blocking, close-on-exec).
    let listener: FileDescriptor
    /// The socket path.
    let path: String
    /// The last host-side port handed out in an `OK <n>` reply. Cloud Hypervisor numbers
    /// host-initiated connections from 2^30 up; the number means nothing to the host.
    private var lastHostPort: UInt32 = (1 << 30) - 1

    private init(listener: FileDescriptor, path: String) {
        self.listener = listener
        self.path = path
    }

    /// Binds the device of `config`, or returns nil when the config has no `vsock`.
    ///
    /// - Throws: 500 "Cannot create virtio-vsock device: …" when the socket cannot be bound, e.g. a
    ///   file already exists at the path (`EADDRINUSE`).
    static func open(for config: JSONValue) throws(APIError) -> VsockDevice? {
        guard let vsock = config.present("vsock"), let path = vsock["socket"]?.stringValue else { return nil }
        let prefix = "Cannot create virtio-vsock device"
        do {
            return VsockDevice(listener: try UnixListener.listen(path: path), path: path)
        } catch {
            switch error {
            case .pathTooLong: throw APIError(.failed, "\(prefix): socket path too long: \(path)")
            case .system(let error): throw APIError(.failed, "\(prefix): \(osErrorText(error.code))")
            }
        }
    }

    /// The number for the next `OK <n>` reply.
    func allocateHostPort() -> UInt32 {
        lastHostPort &+= 1
        return lastHostPort
    }
}

@available(*, unavailable)
extension VsockDevice: Sendable {}
