import Glibc

/// The host side of the booted VM's hybrid vsock device, driven by `Server`'s poll loop
/// (docs/guest-agent.md, section 1).
///
/// A host connection first sends `CONNECT <port>\n`. The VMM reads that line even while the VM
/// is paused, but whether a guest socket listens is the guest's answer, so a paused VM holds
/// the connection until `vm.resume`. Then it answers `OK <n>\n` and hands the stream to the guest
/// agent, or closes it without a word. Connections into a guest that is gone (shutdown, delete,
/// power-off, reboot) are closed.
final class VsockMuxer {
    private enum Stage {
        /// Reading the `CONNECT` line.
        case handshake
        /// The line asked for `port`; the guest has not answered yet (the VM is paused).
        case held(port: UInt32)
        /// Connected to the guest agent: HTTP/1.1.
        case agent
    }

    private final class Session {
        let connection: Connection
        /// The `BootedVM.guestGeneration` this connection belongs to.
        let generation: Int
        var stage = Stage.handshake

        init(connection: Connection, generation: Int) {
            self.connection = connection
            self.generation = generation
        }
    }

    /// What one pass of the poll loop polls. The device is held weakly: a VM dropped
    /// during the pass closes its listener at once, before the API reply goes out, and a
    /// listener number reused meanwhile is not mistaken for it.
    struct Round {
        fileprivate weak var device: VsockDevice?
        fileprivate let ids: [Int]
    }

    private let vmm: VirtualMachineMonitor
    private let agent: GuestAgent?
    private let eventLog: EventLog
    private var sessions: [Int: Session] = [:]
    private var nextSessionID = 0

    /// - Parameter agent: the guest agent, or nil when none listens (`CH_SIM_GUEST_AGENT=0`).
    init(vmm: VirtualMachineMonitor, agent: GuestAgent?, eventLog: EventLog) {
        self.vmm = vmm
        self.agent = agent
        self.eventLog = eventLog
    }

    // MARK: - Poll loop

    /// Catches up with the VM (closes connections of a gone guest, serves held ones after a
    /// resume) and appends what to poll to the loop's `poll` set: the listener (if any), then
    /// one entry per connection.
    func prepare(appendingTo descriptors: inout [pollfd]) -> Round {
        let vm = vmm.vm
        // No device and no connections (no vsock configured): nothing to catch up with.
        if sessions.isEmpty && vm?.vsock == nil { return Round(device: nil, ids: []) }
        let stale = sessions.filter { vm?.vsock == nil || $0.value.generation != vm?.guestGeneration }.keys
        for id in stale { drop(id) }
        for id in Array(sessions.keys) {
            advance(id)
            settle(id)
        }
        guard let device = vm?.vsock else { return Round(device: nil, ids: []) }
        descriptors.append(pollfd(fd: device.listener.raw, events: Int16(POLLIN), revents: 0))
        let ids = Array(sessions.keys)
        for id in ids {
            let c = sessions[id]!.connection
            var events: Int16 = 0
            if wantsInput(sessions[id]!) { events |= Int16(POLLIN) }
            if !c.output.isEmpty { events |= Int16(POLLOUT) }
            descriptors.append(pollfd(fd: c.fd.raw, events: events, revents: 0))
        }
        return Round(device: device, ids: ids)
    }

    /// Handles what `poll` reported for `round`'s descriptors.
    func service(_ round: Round, results: ArraySlice<pollfd>) {
        // The VM was dropped or rebuilt during this pass: the next `prepare` closes what is left.
        guard let device = round.device, let vm = vmm.vm, device === vm.vsock else { return }
        var index = results.startIndex
        if results[index].revents != 0 { acceptAll(device, generation: vm.guestGeneration) }
        for id in round.ids {
            index += 1
            guard let session = sessions[id], session.generation == vm.guestGeneration else { continue }
            let result = results[index]
            if result.revents & Int16(POLLIN) != 0 || (result.revents & Int16(POLLHUP) != 0 && result.events & Int16(POLLIN) != 0) {
                _ = session.connection.readAvailable()
                advance(id)
            } else if result.revents & Int16(POLLHUP | POLLERR) != 0 {
                drop(id)
                continue
            }
            settle(id)
        }
    }

    private func wantsInput(_ session: Session) -> Bool {
        let c = session.connection
        guard !c.awaitingReply, !c.closeAfterFlush, !c.peerClosed else { return false }
        // A paused guest reads nothing; the VMM itself reads the CONNECT line.
        if case .agent = session.stage { return vmm.vm?.state == .running }
        return true
    }

    private func acceptAll(_ device: VsockDevice, generation: Int) {
        for fd in acceptPending(device.listener.raw) {
            let connection = Connection(id: nextSessionID, fd: FileDescriptor(fd))
            sessions[connection.id] = Session(connection: connection, generation: generation)
            nextSessionID += 1
        }
    }

    // MARK: - Protocol

    /// Moves a connection on as far as the VM's state allows.
    private func advance(_ id: Int) {
        guard let session = sessions[id], let vm = vmm.vm, let device = vm.vsock else { return }
        let c = session.connection
        while true {
            switch session.stage {
            case .handshake:
                switch VsockHandshake.parse(c.input) {
                case .incomplete:
                    if c.peerClosed { drop(id) }
                    return
                case .malformed:
                    eventLog.write("vsock: malformed CONNECT line; closing")
                    drop(id)
                    return
                case .connect(let port, let consumed):
                    c.input.removeFirst(consumed)
                    session.stage = .held(port: port)
                    c.awaitingReply = true
                }
            case .held(let port):
                guard vm.state == .running else { return }
                guard let agent, agent.isListening(on: port, guestStartedAt: vm.guestStartedAt, now: monotonicMilliseconds()) else {
                    eventLog.write("vsock: CONNECT \(port): nothing listens; closing")
                    drop(id)
                    return
                }
                c.output += Array("OK \(device.allocateHostPort())\n".utf8)
                c.awaitingReply = false
                session.stage = .agent
            case .agent:
                guard vm.state == .running else { return }
                serveAgent(c)
                return
            }
        }
    }

    /// Answers the complete HTTP requests buffered on an agent connection.
    private func serveAgent(_ c: Connection) {
        guard let agent, let config = vmm.config else { return }
        while !c.closeAfterFlush {
            switch HTTPParser.parse(c.input) {
            case .incomplete:
                return
            case .malformed:
                c.input.removeAll()
                HTTPResponse(status: 400, body: nil).write(to: &c.output, close: true, server: GuestAgent.serverName)
                c.closeAfterFlush = true
            case .request(let request, let consumed):
                c.input.removeFirst(consumed)
                let response = agent.respond(to: request, config: config)
                response.write(to: &c.output, close: !request.keepAlive, server: GuestAgent.serverName)
                if !request.keepAlive { c.closeAfterFlush = true }
            }
        }
    }

    /// Flushes output; closes the connection when it is done or broken.
    private func settle(_ id: Int) {
        guard let c = sessions[id]?.connection else { return }
        guard c.flush() else {
            drop(id)
            return
        }
        guard c.output.isEmpty, !c.awaitingReply else { return }
        if c.closeAfterFlush || c.peerClosed { drop(id) }
    }

    private func drop(_ id: Int) {
        sessions.removeValue(forKey: id)?.connection.fd.close()
    }
}

@available(*, unavailable)
extension VsockMuxer: Sendable {}
