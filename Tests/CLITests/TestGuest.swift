import Foundation
import Testing

/// The real Linux guest `scripts/test-guest` builds (Debian's kernel, a busybox initramfs
/// serving /token and /meminfo on port 8080, a small ext4 disk), for `runtime: qemu`
/// tests. `scripts/test` builds it before the suite; CI fails if a test needing it skips.
struct TestGuest: Sendable {
    let kernel: String
    let initramfs: String
    let disk: String

    /// `CONVERGE_TEST_GUEST`, else `state/test-guest` in the repository.
    static let directory: String = ProcessInfo.processInfo.environment["CONVERGE_TEST_GUEST"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("state/test-guest").path

    /// The guest, when it is built and QEMU is installed.
    static let found: TestGuest? = {
        let fm = FileManager.default
        let dir = directory
        guard let kernel = ["vmlinux", "vmlinuz"].map({ "\(dir)/\($0)" }).first(where: fm.fileExists(atPath:)),
              fm.fileExists(atPath: "\(dir)/initramfs.img"), fm.fileExists(atPath: "\(dir)/disk.qcow2"),
              ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].contains(where: fm.isExecutableFile(atPath:))
        else { return nil }
        return TestGuest(kernel: kernel, initramfs: "\(dir)/initramfs.img", disk: "\(dir)/disk.qcow2")
    }()

    static var available: Bool { found != nil }
    static let missing: Comment = "needs QEMU and the test guest: apt install qemu-system-x86, then scripts/test-guest"
}
