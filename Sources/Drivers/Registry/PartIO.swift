import Foundation
import Glibc
import ObjectStore

/// Reads of a snapshot's files, a part at a time: no file is ever held whole in memory.
enum PartIO {
    /// Bytes [offset, offset + length) of the open file `fd`.
    static func read(_ fd: Int32, offset: Int64, length: Int64, path: String) throws -> Data {
        var data = Data(count: Int(length))
        var done = 0
        try data.withUnsafeMutableBytes { buffer in
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    throw n == 0 ? SystemError(call: "pread(\(path)): the file is shorter than when it was listed", code: EIO)
                                 : SystemError(call: "pread(\(path))", code: errno)
                }
                done += n
            }
        }
        return data
    }

    /// SHA-256 of the whole open file, read in 4 MiB pieces.
    static func sha256(_ fd: Int32, bytes: Int64, path: String) throws -> String {
        let digest = SHA256Digest()
        var offset: Int64 = 0
        while offset < bytes {
            let piece = try read(fd, offset: offset, length: min(4 << 20, bytes - offset), path: path)
            digest.update(piece)
            offset += Int64(piece.count)
        }
        return Digests.hex(digest.finalize())
    }
}
