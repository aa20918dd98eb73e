import Foundation
import Testing
@testable import Drivers

@Suite("qcow2 overlays with the real qemu-img")
struct QemuImgTests {
    @Test("an overlay has the base as backing file, the requested virtual size, and passes qemu-img check")
    func overlay() async throws {
        let host = try SimHost()
        let disks = QemuImg()
        let path = "\(host.root)/overlay.qcow2"
        try await disks.createOverlay(at: path, backing: "\(host.root)/ch/images/base.qcow2", size: 3 << 30)
        let info = try await disks.info(path)
        #expect(info.format == "qcow2")
        #expect(info.virtualSize == 3 << 30)
        #expect(info.backingFilename == "\(host.root)/ch/images/base.qcow2")
        _ = try await disks.check(path)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        try await disks.grow(path, to: 5 << 30)
        #expect(try await disks.info(path).virtualSize == 5 << 30)
    }

    @Test("a missing backing file fails with qemu-img's own reason")
    func missingBacking() async throws {
        let host = try SimHost()
        await #expect(throws: ProcessError.self) {
            try await QemuImg().createOverlay(at: "\(host.root)/x.qcow2", backing: "\(host.root)/nope.qcow2", size: 1 << 30)
        }
    }

    @Test("a missing qemu-img says how to install it")
    func missingBinary() async throws {
        do {
            _ = try await QemuImg(binary: "/nonexistent/qemu-img").info("/tmp/x")
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("apt-get install qemu-utils"))
        }
    }
}
