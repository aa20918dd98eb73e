import Glibc

/// The host files a booting (or restoring) VM opens: payload files and disk images.
///
/// Cloud Hypervisor opens every disk image and takes an advisory OFD lock on it (a write lock,
/// or a read lock for `readonly` disks), so two VMs cannot open the same writable disk. The
/// simulator does the same; the locks live as long as the returned descriptors.
enum GuestResources {
    /// `F_OFD_SETLK` from `<fcntl.h>`; Swift's Glibc module hides it (needs `_GNU_SOURCE`).
    private static let fOFDSetLock: Int32 = 37

    /// Checks the payload files (`kernel`, `firmware`, `initramfs`, `igvm`) are readable.
    ///
    /// - Throws: `APIError` 500 naming the first file that cannot be opened.
    static func checkPayload(_ config: JSONValue) throws(APIError) {
        let payload = config["payload"] ?? .null
        for (key, what) in [("kernel", "kernel"), ("firmware", "firmware"), ("initramfs", "initramfs"), ("igvm", "IGVM file")] {
            guard let path = payload[key]?.stringValue else { continue }
            if let code = Files.accessError(path, mode: R_OK) {
                throw APIError(.failed, "Error loading \(what)", "Cannot open \(what) file \(path): \(osErrorText(code))")
            }
        }
    }

    /// Opens and locks every disk image of `config`.
    ///
    /// - Parameter lock: whether to take the advisory locks (`CH_SIM_DISK_LOCKS=0` turns them off).
    /// - Returns: the open descriptors; closing them releases the locks.
    /// - Throws: `APIError` 500 for a missing, unreadable (or, unless readonly, unwritable) or locked image.
    static func openDisks(_ config: JSONValue, lock: Bool) throws(APIError) -> [FileDescriptor] {
        var opened: [FileDescriptor] = []
        for disk in config["disks"]?.arrayValue ?? [] {
            if disk["vhost_user"]?.boolValue ?? false { continue }
            guard let path = disk["path"]?.stringValue else { continue }
            let readonly = disk["readonly"]?.boolValue ?? false
            let fd: FileDescriptor
            do {
                fd = try FileDescriptor(path: path, flags: readonly ? O_RDONLY : O_RDWR)
            } catch {
                throw APIError(.failed, "Error creating device manager", "Failed to open disk image \(path): \(osErrorText(error.code))")
            }
            if lock {
                var region = flock()
                region.l_type = Int16(readonly ? F_RDLCK : F_WRLCK)
                region.l_whence = Int16(SEEK_SET)
                region.l_start = 0
                region.l_len = 0
                do {
                    try sys("fcntl(F_OFD_SETLK, \(path))") { fcntl(fd.raw, fOFDSetLock, &region) }
                } catch {
                    throw APIError(
                        .failed, "Error creating device manager",
                        "The disk image \(path) is locked by another process (\(readonly ? "read" : "write") lock): \(osErrorText(error.code))")
                }
            }
            opened.append(fd)
        }
        return opened
    }
}
