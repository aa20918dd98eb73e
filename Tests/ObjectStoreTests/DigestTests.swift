import Foundation
import Testing
@testable import ObjectStore

@Suite("SHA-256 and HMAC-SHA256 from libcrypto")
struct DigestTests {
    @Test("sha256(\"abc\") and sha256(\"\") are the FIPS 180-2 answers")
    func sha256KnownAnswers() {
        #expect(Digests.sha256Hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digests.sha256Hex(Data()) == S3Client.emptySHA256)
    }

    @Test("the incremental digest over uneven chunks equals the one-shot digest, and starts over after finalize")
    func incremental() {
        let data = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let digest = SHA256Digest()
        var start = 0
        for size in [1, 63, 64, 65, 4096, 30_000] {
            digest.update(data[start..<(start + size)])
            start += size
        }
        data[start...].withUnsafeBytes { digest.update($0) }
        #expect(Digests.hex(digest.finalize()) == Digests.sha256Hex(data))
        digest.update(Data("abc".utf8))
        #expect(Digests.hex(digest.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("HMAC-SHA256 matches RFC 4231 test case 2 (key \"Jefe\")")
    func hmacRFC4231() {
        let mac = Digests.hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(Digests.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("HMAC-SHA256 with an empty key and empty data (RFC 2104 pads the key with zeros)")
    func hmacEmpty() {
        #expect(Digests.hex(Digests.hmacSHA256(key: [], data: []))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }
}
