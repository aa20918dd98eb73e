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

    @Test("a missing backing file fails and names it")
    func missingBacking() async throws {
        let host = try SimHost()
        do {
            try await QemuImg().createOverlay(at: "\(host.root)/x.qcow2", backing: "\(host.root)/nope.qcow2", size: 1 << 30)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("nope.qcow2"))
        }
        #expect(!FileManager.default.fileExists(atPath: "\(host.root)/x.qcow2"))
    }

    @Test("the in-process overlay is what qemu-img accepts: check, info, and writes and reads through qemu-io",
          arguments: [(Int64(1) << 20, "qcow2"), (Int64(3) << 30, "qcow2"), (Int64(600) << 30, "raw"), (Int64(8) << 40, "qcow2")])
    func inProcessOverlay(size: Int64, format: String) async throws {
        let host = try SimHost()
        let backing = "\(host.root)/base.\(format)"
        #expect(CLIRun.run(["/usr/bin/qemu-img", "create", "-q", "-f", format, backing, "1M"]).status == 0)
        let path = "\(host.root)/overlay.qcow2"
        try await QemuImg().createOverlay(at: path, backing: backing, size: size)
        let info = try await QemuImg().info(path)
        #expect(info.format == "qcow2" && info.virtualSize == max(size, 1 << 20) && info.backingFilename == backing)
        let chain = CLIRun.run(["/usr/bin/qemu-img", "info", "--backing-chain", path])
        #expect(chain.status == 0 && chain.stdout.contains("file format: \(format)"), "\(chain.stdout)")
        _ = try await QemuImg().check(path)
        let write = CLIRun.run(["/usr/bin/qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 128k", "-c", "write -P 0xcd \(size - 65536) 64k", path])
        #expect(write.status == 0, "\(write.stdout)\(write.stderr)")
        let read = CLIRun.run(["/usr/bin/qemu-io", "-f", "qcow2", "-c", "read -P 0xab 0 128k", "-c", "read -P 0xcd \(size - 65536) 64k", path])
        #expect(read.status == 0 && !read.stdout.contains("Pattern verification failed"), "\(read.stdout)\(read.stderr)")
        _ = try await QemuImg().check(path)
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

/// Runs a program to completion (argv, no shell).
enum CLIRun {
    static func run(_ argv: [String]) -> (status: Int32, stdout: String, stderr: String) {
        guard let result = try? Spawn.runToCompletion(argv) else { return (-1, "", "could not run \(argv[0])") }
        return (result.status, result.stdout, result.stderr)
    }
}
