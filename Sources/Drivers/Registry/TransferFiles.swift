import Foundation
import Glibc

/// One file of a snapshot as it goes to the registry.
struct TransferFile: Sendable {
    /// Its path in the snapshot's folder and under `{org}/{name}/`.
    var path: String
    /// Where its bytes are read from here (links followed).
    var source: String
    var bytes: Int64
    var backing: String?
    var backingFormat: String?
}

/// What a snapshot's registry copy holds: every file of its folder (links followed,
/// folders walked), and the files its disk is built on, taken into the folder as
/// `disk.backing.N`, so that a pulled copy stands alone on any host.
enum TransferFiles {
    static func list(_ directory: String) throws -> [TransferFile] {
        var files: [TransferFile] = []
        try walk(directory, prefix: "", into: &files)
        let chain = BackingChain.chain(of: "\(directory)/disk.qcow2")
        guard !chain.isEmpty, let disk = files.firstIndex(where: { $0.path == "disk.qcow2" }) else { return files }
        let names = chain.indices.map { "disk.backing.\($0 + 1)" }
        files[disk].backing = names[0]
        files[disk].backingFormat = format(of: chain[0])
        for (i, source) in chain.enumerated() {
            files.append(TransferFile(path: names[i], source: source, bytes: try size(of: source),
                                      backing: i + 1 < chain.count ? names[i + 1] : nil,
                                      backingFormat: i + 1 < chain.count ? format(of: chain[i + 1]) : nil))
        }
        return files
    }

    private static func walk(_ directory: String, prefix: String, into files: inout [TransferFile]) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() {
            if prefix.isEmpty && SnapshotManifest.ownFiles.contains(name) { continue }
            let path = "\(directory)/\(name)"
            var info = stat()
            guard stat(path, &info) == 0 else { throw SystemError(call: "stat(\(path))", code: errno) }  // links followed
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try walk(path, prefix: prefix + name + "/", into: &files)
            case S_IFREG: files.append(TransferFile(path: prefix + name, source: path, bytes: Int64(info.st_size)))
            default: continue  // sockets and fifos hold no data to keep
            }
        }
    }

    static func size(of path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SystemError(call: "stat(\(path))", code: errno) }
        return Int64(info.st_size)
    }

    /// `qcow2` by its magic, else `raw` (the only formats Converge's disks are built on).
    static func format(of path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "raw" }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        return pread(fd, &magic, 4, 0) == 4 && magic == [0x51, 0x46, 0x49, 0xfb] ? "qcow2" : "raw"
    }

    /// Points each pulled disk at its backing file in the folder, by relative name.
    static func relink(_ files: [TransferManifest.File], in directory: String, qemuImg: QemuImg) async throws {
        for file in files {
            guard let backing = file.backing else { continue }
            try await qemuImg.setBacking(of: "\(directory)/\(file.path)", to: backing, format: file.backingFormat ?? "qcow2")
        }
    }
}
