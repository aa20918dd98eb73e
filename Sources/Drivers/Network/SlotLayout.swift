import Reconciler
import Resources

/// Names and addresses of a pool's slots. Every host object starts with the network prefix
/// (`cvg` by default), and says whose it is: namespace `cvg-POOL-N`, host veth
/// `cvgTTTT-N` (TTTT: a tag of the pool's name; interface names stay within 15 bytes).
struct SlotLayout: Sendable {
    let prefix: String
    let pool: String
    let spec: TapPoolSpec

    /// Inside every namespace the names are the same, so a guest sees one identity everywhere.
    static let uplink = "uplink0"
    static let tap = "tap0"
    /// The guest's gateway (tap0) in every slot: locally administered, "cvg" in its bytes.
    static let gatewayMAC: [UInt8] = [0x02, 0x63, 0x76, 0x67, 0x00, 0x01]

    var tag: String {
        let hex = String(FNV1a.hash(pool) & 0xffff, radix: 16)
        return String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// What a built slot depends on in the pool's spec: its addressing.
    static func key(_ spec: TapPoolSpec) -> String { "\(spec.subnet)|\(spec.guestGateway)|\(spec.guestAddress)" }

    var namespacePrefix: String { "\(prefix)-\(pool)-" }
    var vethPrefix: String { "\(prefix)\(tag)-" }

    func namespace(_ index: Int) -> String { "\(namespacePrefix)\(index)" }
    func hostVeth(_ index: Int) -> String { "\(vethPrefix)\(index)" }

    /// How many /30 slots the subnet holds.
    var capacity: Int { 1 << (30 - spec.subnet.prefix) }

    /// The host's end of slot `index`'s veth.
    func hostAddress(_ index: Int) -> UInt32 { spec.subnet.network.value + UInt32(4 * index) + 1 }
    /// The slot's end: the address the host reaches the guest at.
    func slotAddress(_ index: Int) -> UInt32 { spec.subnet.network.value + UInt32(4 * index) + 2 }

    func slot(_ index: Int) -> NetworkSlot {
        NetworkSlot(pool: pool, index: index, namespace: namespace(index), tap: Self.tap,
                    guestAddress: spec.guestAddress.description, guestGateway: spec.guestGateway.description,
                    slotAddress: IPv4Address(value: slotAddress(index)).description)
    }

    /// The index in a name of this pool (`cvg-POOL-7` or `cvgTTTT-7`), if it is one.
    func index(inNamespace name: String) -> Int? {
        name.hasPrefix(namespacePrefix) ? Int(name.dropFirst(namespacePrefix.count)) : nil
    }

    func index(inVeth name: String) -> Int? {
        name.hasPrefix(vethPrefix) ? Int(name.dropFirst(vethPrefix.count)) : nil
    }

    /// The rules inside a slot: the host reaches the guest at the slot address (DNAT), and
    /// the guest goes out as the slot address (SNAT). With `replacing`, an existing table is
    /// replaced atomically; a brand-new namespace skips that (it costs libnftables a cache
    /// fetch, ~0.5 ms a slot).
    func namespaceRules(_ index: Int, replacing: Bool = true) -> String {
        let slot = IPv4Address(value: slotAddress(index))
        return (replacing ? "add table ip converge\ndelete table ip converge\n" : "") + """
        table ip converge {
            chain prerouting {
                type nat hook prerouting priority dstnat; policy accept;
                iifname "\(Self.uplink)" ip daddr \(slot) meta l4proto { tcp, udp } dnat to \(spec.guestAddress)
            }
            chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                oifname "\(Self.uplink)" ip saddr \(spec.guestAddress) snat to \(slot)
            }
        }

        """
    }
}

/// Deterministic, locally administered MAC address for a sandbox.
enum MACAddress {
    static func bytes(for sandbox: String) -> [UInt8] {
        let h = FNV1a.hash(sandbox)
        return [0x02] + (0..<5).map { UInt8(truncatingIfNeeded: h >> (8 * $0)) }
    }

    static func string(for sandbox: String) -> String {
        bytes(for: sandbox).map { b in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined(separator: ":")
    }
}
