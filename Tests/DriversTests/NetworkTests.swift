import Foundation
import Glibc
import Reconciler
import Resources
import Testing
@testable import Drivers

/// A network test run: its own name prefix and subnet, and on release everything of that
/// prefix is removed, whatever the test did (only that prefix: nothing else on the host).
final class NetworkRun: @unchecked Sendable {
    let prefix = "t" + String((0..<4).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    let root = "/tmp/cvg-net-\(UUID().uuidString.prefix(8).lowercased())"
    let network: SlotNetwork

    init() { network = SlotNetwork(directory: "\(root)/network", prefix: prefix) }

    deinit {
        for ns in namespaces() { _ = run(["ip", "netns", "delete", ns]) }
        for link in links() { _ = run(["ip", "link", "delete", link]) }
        _ = run(["nft", "delete", "table", "ip", "converge_\(prefix)"])
        try? FileManager.default.removeItem(atPath: "\(PrefixClaim.registry)/\(prefix)")  // its host-wide claim
        try? FileManager.default.removeItem(atPath: root)
    }

    func namespaces() -> [String] {
        run(["ip", "netns", "list"]).stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
            .filter { $0.hasPrefix(prefix + "-") }.sorted()
    }

    func links() -> [String] { allLinks().filter { $0.hasPrefix(prefix) } }

    func allLinks() -> [String] {
        run(["ip", "-o", "link", "show"]).stdout.split(separator: "\n").compactMap { line in
            line.split(separator: ":").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces).split(separator: "@")[0] }.map(String.init)
        }.sorted()
    }

    func table() -> String { run(["nft", "list", "table", "ip", "converge_\(prefix)"]).stdout }

    @discardableResult
    func run(_ argv: [String]) -> ProcessResult {
        let tool = Executables.find(argv[0]) ?? argv[0]
        return (try? Spawn.runToCompletion([tool] + argv.dropFirst())) ?? ProcessResult(status: -1, stdout: "", stderr: "cannot run")
    }

    /// Names that belong to the host, not to a test run (runs use `tXXXX`/`cXXXX` prefixes).
    static func hostOwned(_ names: [String]) -> [String] {
        names.filter { name in
            let bare = name.replacingOccurrences(of: "table ip converge_", with: "")
            return !(bare.count >= 5 && (bare.hasPrefix("t") || bare.hasPrefix("c")) && name.contains("converge_") || name.range(of: "^[tc][a-z0-9]{4}[0-9a-f]{4}-[0-9]+$", options: .regularExpression) != nil)
        }
    }

    static func pool(size: Int, subnet: String, nat: Bool = true) -> TapPoolSpec {
        TapPoolSpec(size: size, subnet: IPv4CIDR(parsing: subnet)!, guestGateway: IPv4CIDR(parsing: "192.168.0.1/24")!,
                    guestAddress: IPv4Address(parsing: "192.168.0.2")!, nat: nat)
    }
}

@Suite("TapPool slots in real namespaces", .serialized)
struct NetworkTests {
    let journal = NoJournal()

    @Test("a pool of N slots exists exactly as ip and nft report it, and resizes both ways")
    func poolShape() async throws {
        let net = NetworkRun()
        try await net.network.ensurePool("p", spec: NetworkRun.pool(size: 3, subnet: "10.231.0.0/24"), journal: journal)
        #expect(net.namespaces() == ["\(net.prefix)-p-0", "\(net.prefix)-p-1", "\(net.prefix)-p-2"])
        #expect(net.links().count == 3)
        let inside = net.run(["ip", "-n", "\(net.prefix)-p-1", "-o", "addr", "show"]).stdout
        #expect(inside.contains("uplink0") && inside.contains("10.231.0.6/30") && inside.contains("tap0") && inside.contains("192.168.0.1/24"))
        let host = net.run(["ip", "-o", "addr", "show", "dev", SlotLayout(prefix: net.prefix, pool: "p", spec: NetworkRun.pool(size: 3, subnet: "10.231.0.0/24")).hostVeth(1)]).stdout
        #expect(host.contains("10.231.0.5/30"))
        #expect(net.run(["ip", "-n", "\(net.prefix)-p-1", "link", "show", "tap0"]).stdout.contains("tap0"))
        #expect(net.run(["ip", "netns", "exec", "\(net.prefix)-p-1", "nft", "list", "table", "ip", "converge"]).stdout.contains("dnat to 192.168.0.2"))
        #expect(net.table().contains("ip saddr 10.231.0.0/24 oifname != \"\(net.prefix)*\" masquerade"))
        #expect(try await net.network.observePools()["p"] == ObservedPool(spec: NetworkRun.pool(size: 3, subnet: "10.231.0.0/24"), ready: 3))

        try await net.network.ensurePool("p", spec: NetworkRun.pool(size: 5, subnet: "10.231.0.0/24"), journal: journal)
        #expect(net.namespaces().count == 5 && net.links().count == 5)
        try await net.network.ensurePool("p", spec: NetworkRun.pool(size: 1, subnet: "10.231.0.0/24"), journal: journal)
        #expect(net.namespaces() == ["\(net.prefix)-p-0"] && net.links().count == 1)

        try await net.network.removePool("p", journal: journal)
        #expect(net.namespaces().isEmpty && net.links().isEmpty && net.table().isEmpty)
    }

    @Test("slots are isolated from each other; the host reaches each slot's address")
    func isolation() async throws {
        let net = NetworkRun()
        let spec = NetworkRun.pool(size: 2, subnet: "10.232.0.0/24")
        try await net.network.ensurePool("iso", spec: spec, journal: journal)
        let a = try await net.network.claim(pool: "iso", for: "a", journal: journal)
        let b = try await net.network.claim(pool: "iso", for: "b", journal: journal)
        #expect(a.index != b.index && a.guestAddress == b.guestAddress && a.tap == b.tap)
        // Stand in for B's guest: its address on B's loopback, and a listener there.
        net.run(["ip", "-n", b.namespace, "addr", "add", "192.168.0.2/32", "dev", "lo"])
        let ip = try #require(Executables.find("ip"))
        let serverLog = "\(net.root)/listener.log"
        let server = try Spawn.detached([ip, "netns", "exec", b.namespace, "/usr/bin/python3", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7001)); s.listen(8)
            print("listening", flush=True)
            while True:
                c, _ = s.accept(); c.sendall(b"hello"); c.close()
            """], logPath: serverLog)
        defer {
            kill(server, SIGKILL)
            var status: Int32 = 0
            waitpid(server, &status, 0)
        }
        // Connect only once B's listener is up, so that a refused connection from A means isolation.
        let deadline = Date().addingTimeInterval(10)
        var listening: Bool { ((try? String(contentsOfFile: serverLog, encoding: .utf8)) ?? "").contains("listening") }
        while !listening && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        try #require(listening, "the listener in \(b.namespace) never started: \((try? String(contentsOfFile: serverLog, encoding: .utf8)) ?? "")")
        let client = """
            import socket, sys
            try:
                c = socket.create_connection((sys.argv[1], 7001), timeout=1.5); print(c.recv(5).decode())
            except Exception as e:
                print("failed:", e); sys.exit(1)
            """
        let fromHost = net.run(["python3", "-c", client, b.slotAddress])
        #expect(fromHost.status == 0 && fromHost.stdout.contains("hello"), "\(fromHost.stdout)\(fromHost.stderr)")
        let fromA = net.run(["ip", "netns", "exec", a.namespace, "/usr/bin/python3", "-c", client, b.slotAddress])
        #expect(fromA.status != 0, "slot A reached slot B: \(fromA.stdout)")
        #expect(net.table().contains("iifname \"\(net.prefix)*\" oifname \"\(net.prefix)*\" drop"))
    }

    @Test("orphans of the pool's naming are removed; slots with parts deleted by hand are repaired")
    func orphansAndRepair() async throws {
        let net = NetworkRun()
        let spec = NetworkRun.pool(size: 3, subnet: "10.233.0.0/24")
        try await net.network.ensurePool("r", spec: spec, journal: journal)
        let claimed = try await net.network.claim(pool: "r", for: "keep", journal: journal)
        net.run(["ip", "-n", claimed.namespace, "link", "delete", "tap0"])                 // a claimed slot loses its TAP
        net.run(["ip", "link", "delete", SlotLayout(prefix: net.prefix, pool: "r", spec: spec).hostVeth(1)])  // an idle one its veth
        net.run(["ip", "netns", "add", "\(net.prefix)-r-77"])                              // an orphan namespace
        let observed = try #require(try await net.network.observePools()["r"])
        #expect(observed.broken == 3 && observed.claimed == 1, "\(observed)")
        try await net.network.ensurePool("r", spec: spec, journal: journal)
        let after = try #require(try await net.network.observePools()["r"])
        #expect(after.broken == 0 && after.ready == 3 && after.claimed == 1, "\(after)")
        #expect(!net.namespaces().contains("\(net.prefix)-r-77"))
        #expect(net.run(["ip", "-n", claimed.namespace, "link", "show", "tap0"]).status == 0)
    }

    @Test("a pool's inspection is trusted until the resync: a TAP deleted by hand is seen then, and a claim is seen at once")
    func inspectionTrustedUntilResync() async throws {
        let net = NetworkRun()
        let spec = NetworkRun.pool(size: 2, subnet: "10.234.0.0/24")
        try await net.network.ensurePool("t", spec: spec, journal: journal)
        let hour = 3600.0
        #expect(try await net.network.observePools(trustingFor: hour)["t"]?.ready == 2)
        let slot = try await net.network.claim(pool: "t", for: "s1", journal: journal)
        // A claim changes the slot records: observed at once, trust or not.
        let claimed = try #require(try await net.network.observePools(trustingFor: hour)["t"])
        #expect(claimed.claimed == 1 && claimed.ready == 1, "\(claimed)")
        #expect(net.run(["ip", "-n", slot.namespace, "link", "delete", "tap0"]).status == 0)
        // Behind the trust's back: the last inspection stands until the resync...
        let trusted = try #require(try await net.network.observePools(trustingFor: hour)["t"])
        #expect(trusted.broken == 0, "\(trusted)")
        // ...which inspects every slot again.
        let resynced = try #require(try await net.network.observePools(trustingFor: 0)["t"])
        #expect(resynced.broken == 1 && resynced.claimed == 1, "\(resynced)")
        #expect(try await net.network.observePools()["t"]?.broken == 1)
    }

    @Test("concurrent claims never share a slot, warm or cold")
    func concurrentClaims() async throws {
        let net = NetworkRun()
        try await net.network.ensurePool("c", spec: NetworkRun.pool(size: 2, subnet: "10.234.0.0/24"), journal: journal)
        let network = net.network
        let slots = try await withThrowingTaskGroup(of: NetworkSlot.self) { group in
            for i in 0..<6 { group.addTask { try await network.claim(pool: "c", for: "s\(i)", journal: NoJournal()) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(slots.map(\.namespace)).count == 6)
        for i in 0..<6 { try await network.release(sandbox: "s\(i)", journal: journal) }
        #expect(try await network.observePools()["c"]?.claimed == 0)
    }

    @Test("a pool shrinking, or changing its subnet, while sandboxes claim slots never destroys or repurposes a claimed slot")
    func maintenanceDuringClaims() async throws {
        let net = NetworkRun()
        let network = net.network
        let small = NetworkRun.pool(size: 4, subnet: "10.236.0.0/24")
        try await network.ensurePool("m", spec: small, journal: journal)
        let claims = try await withThrowingTaskGroup(of: NetworkSlot?.self) { group in
            group.addTask { try await network.ensurePool("m", spec: NetworkRun.pool(size: 1, subnet: "10.236.0.0/24"), journal: NoJournal()); return nil }
            for i in 0..<3 { group.addTask { try await network.claim(pool: "m", for: "s\(i)", journal: NoJournal()) } }
            return try await group.reduce(into: [NetworkSlot]()) { if let slot = $1 { $0.append(slot) } }
        }
        #expect(Set(claims.map(\.namespace)).count == 3)
        for slot in claims { #expect(NetworkNamespace.isPinned(slot.namespace), "\(slot.namespace) was destroyed while claimed") }
        // A new subnet: claimed slots keep theirs until released; new claims get the new one.
        try await network.ensurePool("m", spec: NetworkRun.pool(size: 1, subnet: "10.237.0.0/24"), journal: journal)
        for slot in claims { #expect(NetworkNamespace.isPinned(slot.namespace)) }
        let fresh = try await network.claim(pool: "m", for: "new", journal: journal)
        #expect(fresh.slotAddress.hasPrefix("10.237."))
        let observed = try #require(try await network.observePools()["m"])
        #expect(observed.broken == 0 && observed.claimed == 4, "\(observed)")
    }

    @Test("50 sandboxes created and destroyed leave no namespace, link, address or rule behind")
    func fiftySandboxes() async throws {
        let net = NetworkRun()
        let linksBefore = net.allLinks()
        let tablesBefore = net.run(["nft", "list", "tables"]).stdout.split(separator: "\n").map(String.init)
        let host = try SimHost()
        host.runtime.network = net.network
        try await net.network.ensurePool("fifty", spec: NetworkRun.pool(size: 4, subnet: "10.235.0.0/24"), journal: journal)
        var networked = host.config()
        networked.networkPool = "fifty"
        let config = networked
        let runtime = host.runtime
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask { try await runtime.create("s\(i)", config: config, state: .running, reuseDisk: false, journal: NoJournal()) }
            }
            try await group.waitForAll()
        }
        let observed = try await runtime.observe()
        #expect(observed.count == 50 && observed.allSatisfy { $0.vm == .running })
        // Every VMM runs inside its own slot's namespace.
        let spaces = Set(observed.compactMap { $0.process.map { net.run(["ip", "netns", "identify", "\($0.pid)"]).stdout } })
        #expect(spaces.count == 50 && !spaces.contains(""))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 { group.addTask { try await runtime.destroy("s\(i)", keepDisk: false, journal: NoJournal()) } }
            try await group.waitForAll()
        }
        try await net.network.removePool("fifty", journal: journal)
        #expect(net.namespaces().isEmpty && net.links().isEmpty)
        // Other suites create and remove their own objects meanwhile: compare what is not theirs.
        #expect(Set(NetworkRun.hostOwned(linksBefore)).isSubset(of: Set(net.allLinks())))
        let tablesAfter = net.run(["nft", "list", "tables"]).stdout
        for table in NetworkRun.hostOwned(tablesBefore) { #expect(tablesAfter.contains(table)) }
        #expect(!tablesAfter.contains("converge_\(net.prefix)"))
        #expect(!net.run(["ip", "-o", "addr"]).stdout.contains("10.235."))
        #expect(host.leftovers().isEmpty)
    }
}
