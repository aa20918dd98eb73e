internal import CCrypto
import Foundation

/// Incremental SHA-256 over OpenSSL's EVP interface, so a download can be hashed chunk by
/// chunk as it streams to disk instead of being read back afterwards.
/// Not Sendable: one transfer owns it on one thread.
public final class SHA256Digest {
    private let context: OpaquePointer

    public init() {
        // EVP_MD_CTX_new fails only when malloc does; there is nothing sensible to go on with.
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context") }
        self.context = context
        reset()
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Starts over, as a retried download must.
    public func reset() {
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "OpenSSL could not start SHA-256")
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "OpenSSL SHA-256 update failed")
    }

    public func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest; the object then starts over (like after `reset()`).
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &out, &length) == 1, "OpenSSL SHA-256 final failed")
        reset()
        return Array(out.prefix(Int(length)))
    }
}

/// One-shot digests for request signing.
public enum Digests {
    public static func sha256(_ data: Data) -> [UInt8] {
        let digest = SHA256Digest()
        digest.update(data)
        return digest.finalize()
    }

    public static func sha256Hex(_ data: Data) -> String { hex(sha256(data)) }

    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // HMAC() wants non-null pointers even for zero bytes: an empty input lends one byte it never reads.
        let keyBytes = key.isEmpty ? [0] : key, dataBytes = data.isEmpty ? [0] : data
        let result = keyBytes.withUnsafeBufferPointer { k in
            dataBytes.withUnsafeBufferPointer { d in
                HMAC(EVP_sha256(), k.baseAddress, Int32(key.count), d.baseAddress, data.count, &out, &length)
            }
        }
        precondition(result != nil, "OpenSSL HMAC-SHA256 failed")
        return Array(out.prefix(Int(length)))
    }

    /// Lowercase hex, as SigV4 and the download API expect.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
