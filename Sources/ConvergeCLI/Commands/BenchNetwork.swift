import Drivers
import Foundation
import Glibc
import Reconciler
import Resources

/// `converge bench network`: slot creation, warm claim and release with Converge's
/// in-process netlink driver, against the same slot built with one `ip`/`nft` process per
/// step (how the runners do it) and with batched `ip -batch` (three processes per slot),
/// all in the same run. Needs root; touches only names starting with its own prefix.
struct NetworkBenchmark {
    let count: Int
    let json: Bool

    func run() async throws {
        let tag = String((0..<3).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement()! })
        let dir = NSTemporaryDirectory() + "converge-netbench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = TapPoolSpec(size: count, subnet: IPv4CIDR(parsing: "10.240.0.0/16")!, guestGateway: IPv4CIDR(parsing: "192.168.0.1/24")!,
                               guestAddress: IPv4Address(parsing: "192.168.0.2")!, nat: false)

        // Converge: netlink + libnftables on a thread inside each namespace.
        let network = SlotNetwork(directory: "\(dir)/n", prefix: "bn\(tag)")
        let journal = NoJournal()
        var t = Date()
        try await network.ensurePool("p", spec: spec, journal: journal)
        let create = Date().timeIntervalSince(t) / Double(count)
        // A warm pool is a settled one: let the refill's deferred cleanup (libnftables
        // contexts freed in the background) finish before timing claims.
        try await Task.sleep(nanoseconds: 1_500_000_000)
        var claims: [Double] = [], releases: [Double] = []
        for i in 0..<count {
            t = Date()
            _ = try await network.claim(pool: "p", for: "s\(i)", journal: journal)
            claims.append(Date().timeIntervalSince(t))
        }
        for i in 0..<count {
            t = Date()
            try await network.release(sandbox: "s\(i)", journal: journal)
            releases.append(Date().timeIntervalSince(t))
        }
        try await network.removePool("p", journal: journal)

        // Baselines, same layout, other addresses.
        let perStep = try IPBaseline(prefix: "bp\(tag)", second: 1, batched: false).measure(count)
        let batched = try IPBaseline(prefix: "bb\(tag)", second: 2, batched: true).measure(count)

        let report = BenchReport(benchmark: "network", count: count, rounds: count, figures: [
            .init("slot creation, Converge (netlink, libnftables; per slot)", [create]),
            .init("slot creation, one ip/nft process per step (per slot)", [perStep.create]),
            .init("slot creation, ip -batch + nft -f (3 processes per slot)", [batched.create]),
            .init("claim from a warm pool, Converge", claims),
            .init("release (destroy the slot), Converge", releases),
            .init("release, one ip process per step (per slot)", [perStep.release]),
            .init("release, ip -batch (per slot)", [batched.release]),
        ], peakRSSKiB: BenchReport.peakRSS())
        try report.print(json: json)
    }
}

/// The slot built by external programs, for comparison.
struct IPBaseline {
    let prefix: String
    /// Second octet of the 10.x subnet, so the runs never share addresses.
    let second: Int
    let batched: Bool

    func measure(_ count: Int) throws -> (create: Double, release: Double) {
        let ip = Executables.find("ip") ?? "ip", nft = Executables.find("nft") ?? "nft"
        var t = Date()
        for i in 0..<count {
            let ns = "\(prefix)-\(i)", host = "\(prefix)h\(i)"
            let base = 4 * i
            let hostAddress = "10.24\(second).\(base / 256).\(base % 256 + 1)", slotAddress = "10.24\(second).\(base / 256).\(base % 256 + 2)"
            let rules = "table ip converge { chain prerouting { type nat hook prerouting priority dstnat; iifname \"uplink0\" ip daddr \(slotAddress) meta l4proto { tcp, udp } dnat to 192.168.0.2; }; }"
            if batched {
                try run([ip, "netns", "add", ns])
                try run([ip, "-n", ns, "-batch", "-"], input: """
                    link set lo up
                    link add uplink0 type veth peer name \(host) netns 1
                    addr add \(slotAddress)/30 dev uplink0
                    link set uplink0 up
                    tuntap add tap0 mode tap
                    addr add 192.168.0.1/24 dev tap0
                    link set tap0 up
                    route add default via \(hostAddress)
                    """)
                try run([ip, "-batch", "-"], input: "addr add \(hostAddress)/30 dev \(host)\nlink set \(host) up\n")
                try run([ip, "netns", "exec", ns, nft, "-f", "-"], input: rules)
            } else {
                try run([ip, "netns", "add", ns])
                try run([ip, "link", "add", host, "type", "veth", "peer", "name", "uplink0"])
                try run([ip, "link", "set", "uplink0", "netns", ns])
                try run([ip, "addr", "add", "\(hostAddress)/30", "dev", host])
                try run([ip, "link", "set", host, "up"])
                try run([ip, "-n", ns, "link", "set", "lo", "up"])
                try run([ip, "-n", ns, "addr", "add", "\(slotAddress)/30", "dev", "uplink0"])
                try run([ip, "-n", ns, "link", "set", "uplink0", "up"])
                try run([ip, "-n", ns, "tuntap", "add", "tap0", "mode", "tap"])
                try run([ip, "-n", ns, "addr", "add", "192.168.0.1/24", "dev", "tap0"])
                try run([ip, "-n", ns, "link", "set", "tap0", "up"])
                try run([ip, "-n", ns, "route", "add", "default", "via", hostAddress])
                try run([ip, "netns", "exec", ns, nft, "-f", "-"], input: rules)
            }
        }
        let create = Date().timeIntervalSince(t) / Double(count)
        t = Date()
        for i in 0..<count {
            if batched {
                try run([ip, "-batch", "-"], input: "link delete \(prefix)h\(i)\nnetns delete \(prefix)-\(i)\n")
            } else {
                try run([ip, "link", "delete", "\(prefix)h\(i)"])
                try run([ip, "netns", "delete", "\(prefix)-\(i)"])
            }
        }
        return (create, Date().timeIntervalSince(t) / Double(count))
    }

    private func run(_ argv: [String], input: String? = nil) throws {
        var args = argv
        var path: String?
        if let input {
            // `-` reads standard input; hand it a file instead (the runner has no stdin pipe).
            path = NSTemporaryDirectory() + "converge-bench-\(getpid()).in"
            try input.write(toFile: path!, atomically: false, encoding: .utf8)
            if let i = args.lastIndex(of: "-") { args[i] = path! }
        }
        defer { if let path { try? FileManager.default.removeItem(atPath: path) } }
        let status = try Spawn.runToCompletion(args).status
        guard status == 0 else { throw CLIError("baseline step failed (\(status)): \(args.joined(separator: " "))") }
    }
}
