import Foundation
import Glibc

/// Writes an empty qcow2 (version 3) overlay on a backing file, in process: the header,
/// one refcount table and block, and an empty L1 table, as docs/interop/qcow2.txt lays
/// them out. Every sandbox create, restore and fork makes one, and spawning `qemu-img`
/// for it costs ~7 ms (twice with its `info` of the backing file); this costs a write.
/// Tests check every overlay it writes with `qemu-img check`.
enum QCOW2Overlay {
    static let clusterBits = 16
    static let clusterSize = 1 << clusterBits
    private static let magic: [UInt8] = [0x51, 0x46, 0x49, 0xfb]

    /// What an overlay needs to know of its backing file: its format and virtual size.
    struct Backing {
        var format: String
        var virtualSize: Int64

        /// Reads a qcow2 header (size at byte 24) or takes the file as raw.
        init(path: String) throws {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError(call: "open(\(path))", code: errno) }
            defer { close(fd) }
            var header = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &header, 32, 0)
            if n == 32 && Array(header[0..<4]) == QCOW2Overlay.magic {
                format = "qcow2"
                virtualSize = Int64(bitPattern: header[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            } else {
                var info = stat()
                guard fstat(fd, &info) == 0 else { throw SystemError(call: "fstat(\(path))", code: errno) }
                format = "raw"
                virtualSize = Int64(info.st_size)
            }
        }
    }

    /// The file's bytes: cluster 0 the header (+ backing format extension + backing name),
    /// cluster 1 the refcount table, cluster 2 its refcount block, cluster 3 on the L1 table.
    static func image(backing: String, format: String, size: Int64) -> [UInt8] {
        let l2Coverage = Int64(clusterSize) * Int64(clusterSize / 8)
        let l1Entries = Int((size + l2Coverage - 1) / l2Coverage)
        let l1Clusters = max(1, (l1Entries * 8 + clusterSize - 1) / clusterSize)
        let clusters = 3 + l1Clusters
        var out = [UInt8](repeating: 0, count: clusters * clusterSize)
        func put64(_ value: UInt64, at offset: Int) { for i in 0..<8 { out[offset + i] = UInt8(value >> (56 - 8 * i) & 0xff) } }
        func put32(_ value: UInt32, at offset: Int) { for i in 0..<4 { out[offset + i] = UInt8(value >> (24 - 8 * i) & 0xff) } }
        func put16(_ value: UInt16, at offset: Int) { out[offset] = UInt8(value >> 8); out[offset + 1] = UInt8(value & 0xff) }

        let headerLength = 104
        // Header extensions: the backing file's format, then the end marker.
        let formatBytes = Array(format.utf8)
        let extensionStart = headerLength
        let padded = (formatBytes.count + 7) / 8 * 8
        let backingOffset = extensionStart + 8 + padded + 8
        let name = Array(backing.utf8)

        out.replaceSubrange(0..<4, with: magic)
        put32(3, at: 4)                                   // version
        put64(UInt64(backingOffset), at: 8)               // backing_file_offset
        put32(UInt32(name.count), at: 16)                 // backing_file_size
        put32(UInt32(clusterBits), at: 20)                // cluster_bits
        put64(UInt64(size), at: 24)                       // size
        put32(0, at: 32)                                  // crypt_method
        put32(UInt32(l1Entries), at: 36)                  // l1_size
        put64(UInt64(3 * clusterSize), at: 40)            // l1_table_offset
        put64(UInt64(clusterSize), at: 48)                // refcount_table_offset
        put32(1, at: 56)                                  // refcount_table_clusters
        // nb_snapshots, snapshots_offset, the three feature masks: zero.
        put32(4, at: 96)                                  // refcount_order: 16-bit refcounts
        put32(UInt32(headerLength), at: 100)              // header_length
        put32(0xE279_2ACA, at: extensionStart)            // backing file format name
        put32(UInt32(formatBytes.count), at: extensionStart + 4)
        out.replaceSubrange(extensionStart + 8..<extensionStart + 8 + formatBytes.count, with: formatBytes)
        // The end-of-extensions marker is 8 zero bytes, already there.
        out.replaceSubrange(backingOffset..<backingOffset + name.count, with: name)

        put64(UInt64(2 * clusterSize), at: clusterSize)   // refcount table → its one block
        for cluster in 0..<clusters { put16(1, at: 2 * clusterSize + 2 * cluster) }
        return out
    }

    /// Writes the overlay to `path` (replacing it); the caller renames it into place. Not
    /// fsynced, like `qemu-img create`: a killed process loses nothing of the page cache,
    /// and the record of a create is written before its disk anyway.
    static func create(at path: String, backing: String, size: Int64) throws {
        let base = try Backing(path: backing)
        let bytes = image(backing: backing, format: base.format, size: max(size, base.virtualSize))
        let name = Array(backing.utf8)
        guard name.count <= 1023, backing.hasPrefix("/") else {
            throw SystemError(call: "qcow2 overlay: backing path \(backing) must be absolute and under 1024 bytes", code: EINVAL)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError(call: "open(\(path))", code: errno) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
    }
}
