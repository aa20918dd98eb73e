import Glibc

/// The single-threaded event loop: one `poll(2)` over the signal pipe, the listening socket and
/// every client. It blocks without a timeout unless a delayed reply or a guest power-off is due,
/// so an idle simulator uses no CPU.
///
/// Delayed replies (`CH_SIM_DELAY_MS_<ENDPOINT>`) run their action when the delay ends; other
/// clients are served meanwhile, while later requests on the same connection wait behind it.
/// The booted VM's vsock socket and its connections are polled in the same loop (`VsockMuxer`).
final class Server {
    /// A deferred piece of work.
    private enum TimerAction {
        case delayedRequest(connectionID: Int, request: HTTPRequest)
        case guestPowerOff
    }

    private struct Timer {
        var deadline: Int64
        var action: TimerAction
    }

    private let socket: APISocket?
    private let signals: SignalPipe
    private let vmm: VirtualMachineMonitor
    private let endpoints: Endpoints
    private let knobs: Knobs
    private let noShutdown: Bool
    private let requestLog: RequestLog?
    private let eventLog: EventLog
    private let vsock: VsockMuxer
    private var connections: [Int: Connection] = [:]
    private var nextConnectionID = 0
    private var timers: [Timer] = []
    /// The power button was pressed while the guest was paused; it acts after `vm.resume`.
    private var powerButtonPending = false
    /// The `poll` set and the connection of each client entry, kept between passes so that a
    /// pass of the loop allocates nothing.
    private var pollSet: [pollfd] = []
    private var polledIDs: [Int] = []

    init(
        socket: APISocket?, signals: SignalPipe, vmm: VirtualMachineMonitor, knobs: Knobs, noShutdown: Bool,
        requestLog: RequestLog?, eventLog: EventLog, guestAgent: GuestAgent?
    ) {
        self.socket = socket
        self.signals = signals
        self.vmm = vmm
        self.endpoints = Endpoints(vmm: vmm, stateErrorStatus: knobs.stateErrorStatus)
        self.knobs = knobs
        self.noShutdown = noShutdown
        self.requestLog = requestLog
        self.eventLog = eventLog
        self.vsock = VsockMuxer(vmm: vmm, agent: guestAgent, eventLog: eventLog)
    }

    /// Removes the socket and lock file and exits with `status`.
    func terminate(_ status: Int32) -> Never {
        socket?.remove()
        eventLog.write("exiting with status \(status)")
        exit(status)
    }

    // MARK: - Loop

    /// Serves until the process exits.
    func run() -> Never {
        while true {
            pollSet.removeAll(keepingCapacity: true)
            pollSet.append(pollfd(fd: signals.readEnd.raw, events: Int16(POLLIN), revents: 0))
            if let socket { pollSet.append(pollfd(fd: socket.listener.raw, events: Int16(POLLIN), revents: 0)) }
            let base = pollSet.count
            polledIDs.removeAll(keepingCapacity: true)
            polledIDs.append(contentsOf: connections.keys)
            for id in polledIDs {
                let c = connections[id]!
                var events: Int16 = 0
                if !c.awaitingReply && !c.closeAfterFlush && !c.peerClosed { events |= Int16(POLLIN) }
                if !c.output.isEmpty { events |= Int16(POLLOUT) }
                pollSet.append(pollfd(fd: c.fd.raw, events: events, revents: 0))
            }
            let vsockBase = pollSet.count
            let vsockRound = vsock.prepare(appendingTo: &pollSet)
            let rc = poll(&pollSet, nfds_t(pollSet.count), pollTimeout())
            if rc == -1 {
                if errno == EINTR { continue }
                printError("cloud-hypervisor-sim: poll: \(osErrorText(errno))")
                terminate(1)
            }
            let fds = pollSet
            if fds[0].revents != 0 { handleSignals() }
            fireDueTimers()
            if let socket, fds[1].revents != 0 { acceptAll(socket.listener.raw) }
            for (offset, id) in polledIDs.enumerated() {
                guard let c = connections[id] else { continue }
                service(c, revents: fds[base + offset].revents, requested: fds[base + offset].events)
            }
            vsock.service(vsockRound, results: fds[vsockBase...])
        }
    }

    private func pollTimeout() -> Int32 {
        guard !timers.isEmpty, let next = timers.map(\.deadline).min() else { return -1 }
        return Int32(clamping: max(0, next - monotonicMilliseconds()))
    }

    private func acceptAll(_ listener: Int32) {
        for fd in acceptPending(listener) {
            let c = Connection(id: nextConnectionID, fd: FileDescriptor(fd))
            connections[c.id] = c
            nextConnectionID += 1
        }
    }

    private func service(_ c: Connection, revents: Int16, requested: Int16) {
        if revents & Int16(POLLIN) != 0 || (revents & Int16(POLLHUP) != 0 && requested & Int16(POLLIN) != 0) {
            _ = c.readAvailable()
            processInput(c)
        } else if revents & Int16(POLLHUP | POLLERR) != 0 {
            drop(c)
            return
        }
        settle(c)
    }

    /// Flushes output, then closes or exits as the connection asked; drops dead connections.
    private func settle(_ c: Connection) {
        guard connections[c.id] != nil else { return }
        guard c.flush() else {
            if c.exitAfterFlush { terminate(0) }
            drop(c)
            return
        }
        guard c.output.isEmpty, !c.awaitingReply else { return }
        if c.exitAfterFlush { terminate(0) }
        if c.closeAfterFlush || c.peerClosed { drop(c) }
    }

    private func drop(_ c: Connection) {
        connections[c.id] = nil
        c.fd.close()
    }

    // MARK: - Requests

    private func processInput(_ c: Connection) {
        while !c.awaitingReply && !c.closeAfterFlush && !c.exitAfterFlush {
            switch HTTPParser.parse(c.input) {
            case .incomplete:
                return
            case .malformed(let reason):
                c.input.removeAll()
                HTTPResponse.error(400, ["Malformed HTTP request", reason]).write(to: &c.output, close: true)
                c.closeAfterFlush = true
                eventLog.write("malformed request: \(reason)")
                return
            case .request(let request, let consumed):
                c.input.removeFirst(consumed)
                dispatch(request, on: c)
            }
        }
    }

    private func dispatch(_ request: HTTPRequest, on c: Connection) {
        let endpoint = Endpoints.endpoint(of: request.path) ?? ""
        if !knobs.exitOn.isEmpty && knobs.exitOn.contains(endpoint) {
            requestLog?.record(request, status: nil)
            eventLog.write("crashing on \(endpoint) (CH_SIM_EXIT_ON)")
            _exit(1)
        }
        let delay = endpoint.isEmpty ? 0 : knobs.delayMilliseconds(for: endpoint)
        if delay > 0 {
            c.awaitingReply = true
            timers.append(Timer(deadline: monotonicMilliseconds() + Int64(delay), action: .delayedRequest(connectionID: c.id, request: request)))
            return
        }
        complete(request, connectionID: c.id)
    }

    private func complete(_ request: HTTPRequest, connectionID: Int) {
        let (response, after) = endpoints.handle(request)
        requestLog?.record(request, status: response.status)
        eventLog.write("\(request.method) \(request.path) -> \(response.status)")
        if powerButtonPending, response.status == 204, request.path.hasSuffix("/vm.resume") {
            powerButtonPending = false
            schedulePowerOff()
        }
        if after == .guestPowerOff && !knobs.ignorePowerButton { schedulePowerOff() }
        guard let c = connections[connectionID] else {
            if after == .exitProcess { terminate(0) }
            return
        }
        c.awaitingReply = false
        response.write(to: &c.output, close: !request.keepAlive)
        if !request.keepAlive { c.closeAfterFlush = true }
        if after == .exitProcess { c.exitAfterFlush = true }
    }

    // MARK: - Timers

    private func fireDueTimers() {
        guard !timers.isEmpty else { return }
        let now = monotonicMilliseconds()
        let due = timers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
        guard !due.isEmpty else { return }
        timers.removeAll { $0.deadline <= now }
        for timer in due {
            switch timer.action {
            case .delayedRequest(let id, let request):
                complete(request, connectionID: id)
                if let c = connections[id] {
                    processInput(c)
                    settle(c)
                }
            case .guestPowerOff:
                guestPowerOff(source: "ACPI power button")
            }
        }
    }

    private func schedulePowerOff() {
        timers.append(Timer(deadline: monotonicMilliseconds() + Int64(knobs.guestShutdownMilliseconds), action: .guestPowerOff))
    }

    // MARK: - Guest-initiated events

    private func handleSignals() {
        for signo in signals.drain() {
            switch signo {
            case SIGTERM, SIGINT:
                eventLog.write("received signal \(signo)")
                terminate(0)
            case SIGUSR1:
                guestPowerOff(source: "SIGUSR1")
            case SIGUSR2:
                guard vmm.vm?.state == .running else { continue }
                vmm.guestRebooted()
                eventLog.write("guest rebooted (SIGUSR2)")
            default:
                break
            }
        }
    }

    /// The guest powers itself off. Cloud Hypervisor then shuts the whole VMM down (the process
    /// exits 0, cloud-hypervisor#8005) unless started with `--no-shutdown`, where only the VM
    /// object is dropped and `vm.info` says `Created`. A paused guest cannot act until resumed.
    private func guestPowerOff(source: String) {
        guard let state = vmm.vm?.state else { return }
        guard state == .running else {
            if state == .paused && source != "SIGUSR1" { powerButtonPending = true }
            return
        }
        eventLog.write("guest powered off (\(source))")
        if noShutdown {
            vmm.guestPoweredOff()
        } else {
            terminate(0)
        }
    }
}

@available(*, unavailable)
extension Server: Sendable {}
