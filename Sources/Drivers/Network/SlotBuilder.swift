import CSystemShim
import Foundation
import Glibc
import Reconciler

/// Builds and removes one slot's host objects: a namespace with `uplink0` (the veth's
/// slot end), `tap0` holding the guest gateway, a default route and NAT rules, and the
/// veth's host end. Each part is checked before it is added, so the same call creates a
/// slot and completes one. Runs on a thread inside the slot's namespace: no process is
/// spawned per slot.
enum SlotBuilder {
    /// Makes (or completes) slot `index`: every part is checked before it is added, so the
    /// same call creates a slot and repairs one whose parts were deleted by hand.
    static func build(_ layout: SlotLayout, _ index: Int) async throws {
        let ns = layout.namespace(index)
        if NetworkNamespace.exists(ns) && !NetworkNamespace.isPinned(ns) {
            try NetworkNamespace.delete(ns)  // a crash between creating the file and mounting on it
        }
        let create = !NetworkNamespace.exists(ns)
        do {
            try await NetworkNamespace.run(ns, create: create) { root in
                try configureInside(layout, index, fresh: create, rootNamespaceFD: root)
            }
        } catch let error as SystemError where error.code == EPERM {
            throw StepFailure(step: "network.slot.create", message: "creating network namespaces needs root (CAP_SYS_ADMIN): \(error)")
        }
    }

    /// Runs `body` in the root namespace and comes back to the calling thread's namespace.
    private static func inRootNamespace(_ root: Int32, _ body: () throws -> Void) throws {
        let here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard here >= 0 else { throw SystemError(call: "open(/proc/thread-self/ns/net)", code: errno) }
        defer { close(here) }
        guard cvg_setns_net(root) == 0 else { throw SystemError(call: "setns(root)", code: errno) }
        let result = Result { try body() }
        guard cvg_setns_net(here) == 0 else { throw SystemError(call: "setns(slot)", code: errno) }
        try result.get()
    }

    private static func configureInside(_ layout: SlotLayout, _ index: Int, fresh: Bool, rootNamespaceFD root: Int32) throws {
        let nl = try Netlink()
        var links = Set(try nl.linkNames())
        try nl.setUp("lo")
        // Each part is checked before it is added, and "already there" is success: the same
        // code creates a slot and completes one.
        if !links.contains(SlotLayout.uplink) {
            do {
                try nl.createVeth(SlotLayout.uplink, peer: layout.hostVeth(index), peerNamespaceFD: root)
            } catch let error as SystemError where error.code == EEXIST {
                // The host end outlived its namespace (deleted under a live VMM, which still
                // holds the peer): it leads nowhere useful, so it is made again.
                try inRootNamespace(root) { try Netlink().deleteLink(layout.hostVeth(index)) }
                try nl.createVeth(SlotLayout.uplink, peer: layout.hostVeth(index), peerNamespaceFD: root)
            }
        }
        if !links.contains(SlotLayout.tap) {
            guard cvg_tap_create(SlotLayout.tap) == 0 || errno == EBUSY || errno == EEXIST else {
                throw SystemError(call: "TUNSETIFF(\(SlotLayout.tap))", code: errno)
            }
        }
        links = Set(try nl.linkNames())
        let addresses = Set(try nl.addresses().map(\.address))
        if !addresses.contains(layout.slotAddress(index)) {
            try tolerating(EEXIST) { try nl.addAddress(SlotLayout.uplink, layout.slotAddress(index), prefix: 30) }
        }
        if !addresses.contains(layout.spec.guestGateway.address.value) {
            try tolerating(EEXIST) { try nl.addAddress(SlotLayout.tap, layout.spec.guestGateway.address.value, prefix: layout.spec.guestGateway.prefix) }
        }
        try nl.setUp(SlotLayout.uplink)
        // The gateway has one MAC in every slot, as the guest has one address: a restored or
        // forked guest's ARP cache stays right in whatever slot it lands.
        try nl.setUp(SlotLayout.tap, mac: SlotLayout.gatewayMAC)
        do { try nl.addDefaultRoute(via: layout.hostAddress(index)) } catch let e as SystemError where e.code == EEXIST {}
        try HostRules.writeSysctl("/proc/sys/net/ipv4/ip_forward", "1")  // this namespace only
        try NFTables.run(layout.namespaceRules(index, replacing: !fresh))

        // The host end, from the root namespace (the peer was created there directly).
        guard cvg_setns_net(root) == 0 else { throw SystemError(call: "setns(root)", code: errno) }
        let host = try Netlink()
        let hostAddresses = Set(try host.addresses().map(\.address))
        if !hostAddresses.contains(layout.hostAddress(index)) {
            try tolerating(EEXIST) { try host.addAddress(layout.hostVeth(index), layout.hostAddress(index), prefix: 30) }
        }
        try host.setUp(layout.hostVeth(index))
    }

    /// Removes slot `index`'s objects: its host veth (the peer goes with it), then its namespace.
    static func remove(_ layout: SlotLayout, _ index: Int) async throws {
        try await NetworkNamespace.runInRoot {
            // Deleting one end of a veth deletes both; then the namespace is unpinned.
            try Netlink().deleteLink(layout.hostVeth(index))
            try NetworkNamespace.delete(layout.namespace(index))
        }
    }

    /// Removes one namespace or link of a pool's naming that no record explains.
    static func removeObject(_ name: String) async throws {
        try await NetworkNamespace.runInRoot {
            if NetworkNamespace.exists(name) { try NetworkNamespace.delete(name) } else { try Netlink().deleteLink(name) }
        }
    }


    /// Runs `body`; a `SystemError` with `code` counts as success.
    private static func tolerating(_ code: Int32, _ body: () throws -> Void) throws {
        do { try body() } catch let error as SystemError where error.code == code {}
    }
}
