import Foundation
import Glibc
import Reconciler
import Resources

/// Rules of the root namespace: Converge's own nftables table and the host's IPv4
/// forwarding, which outbound NAT needs.
enum HostRules {
    /// Converge's own nftables table in the root namespace, rewritten atomically: slots never
    /// reach each other, and pools with `nat: true` masquerade out. Nothing else is touched.
    /// - Parameters:
    ///   - pools: the pools whose rules stay (not those being removed).
    ///   - directory: the state directory's network records, its entry in the host-wide
    ///     forwarding record.
    static func apply(prefix: String, table tableName: String, pools: [SlotRecords.Pool], directory: String) async throws {
        let all = pools.sorted { $0.name < $1.name }
        let natSubnets = all.filter(\.spec.nat).map(\.spec.subnet)
        var text = "add table ip \(tableName)\ndelete table ip \(tableName)\n"
        if !all.isEmpty {
            text += """
            table ip \(tableName) {
                chain forward {
                    type filter hook forward priority filter; policy accept;
                    iifname "\(prefix)*" oifname "\(prefix)*" drop
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
            \(natSubnets.map { "        ip saddr \($0) oifname != \"\(prefix)*\" masquerade" }.joined(separator: "\n"))
                }
            }

            """
        }
        let commands = text
        _ = try await NetworkNamespace.runInRoot { try NFTables.run(commands) }
        try updateForwarding(directory: directory, needed: !natSubnets.isEmpty)
    }

    /// Outbound NAT needs IPv4 forwarding on the host: on while any state directory on this
    /// host has a NAT pool, and put back as it was when the last one goes. The record is
    /// host-wide (/run/converge): one entry per state directory, and the value found first.
    private static func updateForwarding(directory: String, needed: Bool) throws {
        let shared = "/run/converge/ip_forward"
        let users = "\(shared)/users"
        let saved = "\(shared)/before"
        let me = "\(users)/\(Self.fingerprint(directory))"
        let current = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        if needed {
            try FileManager.default.createDirectory(atPath: users, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: saved) { try AtomicFile.write(Data(current.utf8), to: saved) }
            if !FileManager.default.fileExists(atPath: me) { try AtomicFile.write(Data(directory.utf8), to: me) }
            if current != "1" { try Self.writeSysctl("/proc/sys/net/ipv4/ip_forward", "1") }
        } else {
            try AtomicFile.remove(me)
            // Entries of state directories that no longer exist hold nothing.
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: users)) ?? [] {
                let owner = (try? String(contentsOfFile: "\(users)/\(entry)", encoding: .utf8)) ?? ""
                if !FileManager.default.fileExists(atPath: owner) { try? AtomicFile.remove("\(users)/\(entry)") }
            }
            let others = (try? FileManager.default.contentsOfDirectory(atPath: users)) ?? []
            if others.isEmpty, let before = try? String(contentsOfFile: saved, encoding: .utf8) {
                try Self.writeSysctl("/proc/sys/net/ipv4/ip_forward", before)
                try AtomicFile.remove(saved)
            }
        }
    }

    static func fingerprint(_ text: String) -> String { String(FNV1a.hash(text), radix: 16) }

    static func writeSysctl(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(call: "open(\(path))", code: errno) }
        defer { close(fd) }
        let n = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n >= 0 else { throw SystemError(call: "write(\(path))", code: errno) }
    }
}
