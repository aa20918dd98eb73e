import Glibc

// MARK: - Start-up

/// Parses the command line and knobs, binds the API socket, boots or restores a VM if the
/// command line asks, then serves forever. Every start-up failure prints to stderr and exits 1.
enum Simulator {
    static func main() -> Never {
        let options: Options
        do {
            options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            printError(error.description)
            printError("\nFor more information, try '--help'.")
            exit(1)
        }
        if options.showVersion {
            printOutput("cloud-hypervisor \(SimVersion.version)")
            exit(0)
        }
        if options.showHelp {
            printOutput(Options.usage)
            exit(0)
        }
        let knobs: Knobs
        do { knobs = try Knobs.fromEnvironment() } catch {
            printError("cloud-hypervisor-sim: \(error)")
            exit(1)
        }
        // Build the command-line VM config before binding, so a bad flag leaves nothing behind.
        let bootConfig: JSONValue?
        let restoreRequest: JSONValue?
        do {
            bootConfig = options.bootsFromCommandLine ? try options.vmConfigJSON() : nil
            restoreRequest = try options.restoreJSON()
        } catch {
            printError(error.description)
            exit(1)
        }

        let eventLog = EventLog(path: options.logFile)
        let requestLog: RequestLog?
        let signals: SignalPipe
        do {
            requestLog = try knobs.requestLogPath.map { (path: String) throws(SystemError) in try RequestLog(path: path) }
            signals = try SignalPipe()
        } catch {
            printError("cloud-hypervisor-sim: \(error)")
            exit(1)
        }

        let socket: APISocket?
        do {
            switch options.apiSocket {
            case .path(let path): socket = try APISocket(path: path, delayMilliseconds: knobs.socketDelayMilliseconds)
            case .fd(let fd): socket = try APISocket(inheritedFD: fd)
            case nil: socket = nil
            }
        } catch {
            printError(error.description)
            exit(1)
        }

        var guestAgent: GuestAgent?
        if knobs.guestAgent {
            // `SOCK.guest-used` lets a test change the guest's memory use while it runs.
            var usedFile: String?
            if case .path(let path) = options.apiSocket { usedFile = path + ".guest-used" }
            guestAgent = GuestAgent(
                port: knobs.guestAgentPort, startDelayMilliseconds: knobs.guestAgentDelayMilliseconds,
                defaultUsed: knobs.guestUsedBytes, usedFile: usedFile)
        }
        let vmm = VirtualMachineMonitor(lockDisks: knobs.lockDisks, userfaultfdAvailable: knobs.userfaultfdAvailable)
        vmm.resizeDropsRAM = knobs.resizeDropsRAM
        let server = Server(
            socket: socket, signals: signals, vmm: vmm, knobs: knobs, noShutdown: options.noShutdown,
            requestLog: requestLog, eventLog: eventLog, guestAgent: guestAgent)
        eventLog.write("API server ready; pid \(getpid())")
        if !options.ignored.isEmpty {
            eventLog.write("accepted without effect: " + options.ignored.map { $0.flag + ($0.value.map { " " + $0 } ?? "") }.joined(separator: " "))
        }

        do throws(APIError) {
            if let bootConfig {
                try vmm.create(config: try ConfigValidation.vmConfig(from: bootConfig))
                try vmm.boot()
                eventLog.write("VM booted from the command line")
            } else if let restoreRequest {
                let request: JSONValue
                do { request = try Schemas.restore.normalize(restoreRequest, path: "") } catch {
                    throw APIError.body(error.description)
                }
                try vmm.restore(request)
                eventLog.write("VM restored from the command line")
            }
        } catch {
            printError("Error: " + error.messages.joined(separator: ": "))
            server.terminate(1)
        }
        server.run()
    }
}

Simulator.main()
