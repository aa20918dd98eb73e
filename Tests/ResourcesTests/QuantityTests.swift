import Testing
@testable import Resources

@Suite("Quantities, durations and addresses")
struct QuantityTests {
    @Test("Kubernetes suffixes parse exactly", arguments: [
        ("512Mi", Int64(512) << 20), ("2Gi", Int64(2) << 30), ("1G", 1_000_000_000), ("1500M", 1_500_000_000),
        ("1.5Gi", Int64(3) << 29), ("4096", 4096), ("1Ti", Int64(1) << 40),
        ("007Mi", Int64(7) << 20), ("0.5Ki", 512), ("1.25k", 1250), ("2P", 2_000_000_000_000_000), ("7Ei", Int64(7) << 60),
        ("9223372036854775807", Int64.max),
    ])
    func parses(text: String, bytes: Int64) {
        #expect(Quantity(parsing: text)?.bytes == bytes)
    }

    @Test("malformed quantities are rejected", arguments: ["", "Gi", "2 Gi", "-1Gi", "2GB", "1.5", "0.1Ki", "1..2Gi", "abc", "99999999999Ei",
                                                 // past Int64, by the whole, the suffix or the fraction (never a crash)
                                                 "9223372036854775808", "8Ei", "7.99999999999999999Ei", "1.0000000000000000001Gi",
                                                 ".5Gi", "5.Gi", "Mi", "i", "1i", "1Ki2", "1Kb", "1 Ki", "１Gi", "1E"])
    func rejects(text: String) {
        #expect(Quantity(parsing: text) == nil)
    }

    @Test("quantities print in their shortest exact binary form")
    func printing() {
        #expect(Quantity.gibibytes(2).description == "2Gi")
        #expect(Quantity.mebibytes(1536).description == "1536Mi")
        #expect(Quantity(bytes: 1000).description == "1000")
    }

    @Test("memory rounds up to 128 MiB")
    func rounding() {
        #expect(Quantity.mebibytes(1000).roundedUp(to: .mebibytes(128)) == .mebibytes(1024))
        #expect(Quantity.mebibytes(1024).roundedUp(to: .mebibytes(128)) == .mebibytes(1024))
    }

    @Test("durations", arguments: [("500ms", Int64(500)), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("1m30s", 90_000)])
    func durations(text: String, ms: Int64) {
        #expect(SpecDuration(parsing: text)?.milliseconds == ms)
    }

    @Test("bad durations", arguments: ["", "30", "s", "1.5s", "5d", "-1s"])
    func badDurations(text: String) {
        #expect(SpecDuration(parsing: text) == nil)
    }

    @Test("CIDR arithmetic")
    func cidr() throws {
        let a = try #require(IPv4CIDR(parsing: "10.0.0.0/16"))
        let b = try #require(IPv4CIDR(parsing: "10.0.128.0/24"))
        let c = try #require(IPv4CIDR(parsing: "10.1.0.0/16"))
        #expect(a.overlaps(b) && b.overlaps(a))
        #expect(!a.overlaps(c))
        #expect(IPv4CIDR(parsing: "10.0.0.1/33") == nil)
        #expect(IPv4Address(parsing: "1.2.3.04") == nil)
        #expect(IPv4Address(parsing: "256.1.1.1") == nil)
    }
}
