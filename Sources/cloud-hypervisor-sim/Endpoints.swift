import Glibc

/// What the server must do after sending a reply.
enum AfterReply: Equatable, Sendable {
    case nothing
    /// `vmm.shutdown`: exit once the response is flushed.
    case exitProcess
    /// `vm.power-button`: the guest powers off a little later.
    case guestPowerOff
}

/// Routes `/api/v1/<endpoint>` requests to the VMM and renders results as Cloud Hypervisor does.
final class Endpoints {
    private let vmm: VirtualMachineMonitor
    private let stateErrorStatus: Int

    /// The base path of every endpoint.
    static let basePath = "/api/v1/"

    /// Endpoints answered with GET.
    static let getEndpoints: Set<String> = ["vmm.ping", "vm.info", "vm.counters"]
    /// Endpoints answered with PUT that the simulator implements.
    static let putEndpoints: Set<String> = [
        "vmm.shutdown", "vm.create", "vm.delete", "vm.boot", "vm.shutdown", "vm.reboot", "vm.pause", "vm.resume",
        "vm.power-button", "vm.resize", "vm.resize-disk", "vm.snapshot", "vm.restore",
    ]
    /// Endpoints that exist upstream (PUT) but are not simulated: 404 without a VM, else 500.
    static let unsupportedEndpoints: Set<String> = [
        "vm.resize-zone", "vm.add-device", "vm.add-disk", "vm.add-fs", "vm.add-pmem", "vm.add-net", "vm.add-vsock",
        "vm.add-vdpa", "vm.add-user-device", "vm.add-generic-vhost-user", "vm.remove-device", "vm.coredump", "vm.nmi",
        "vm.send-migration", "vm.receive-migration",
    ]

    init(vmm: VirtualMachineMonitor, stateErrorStatus: Int) {
        self.vmm = vmm
        self.stateErrorStatus = stateErrorStatus
    }

    /// How each known endpoint is called; one lookup instead of one per set.
    private static let routes: [String: String] = {
        var routes: [String: String] = [:]
        for name in getEndpoints { routes[name] = "GET" }
        for name in putEndpoints.union(unsupportedEndpoints) { routes[name] = "PUT" }
        return routes
    }()

    /// The endpoint name of a path (`/api/v1/vm.boot` → `vm.boot`), or nil outside the API.
    static func endpoint(of path: String) -> String? {
        guard path.hasPrefix(basePath) else { return nil }
        let name = String(path.dropFirst(basePath.count))
        return name.isEmpty ? nil : name
    }

    /// Handles one request.
    ///
    /// - Returns: the response and what to do once it is sent.
    func handle(_ request: HTTPRequest) -> (HTTPResponse, AfterReply) {
        guard let endpoint = Self.endpoint(of: request.path), let expected = Self.routes[endpoint] else {
            return (.error(404, ["Unknown endpoint \(request.path)"]), .nothing)
        }
        guard request.method == expected else {
            return (.error(400, ["Invalid method \(request.method) for \(endpoint): expected \(expected)"]), .nothing)
        }
        do {
            return try dispatch(endpoint, request.body)
        } catch {
            return (.error(error.status(stateErrorStatus: stateErrorStatus), error.messages), .nothing)
        }
    }

    private func dispatch(_ endpoint: String, _ body: [UInt8]) throws(APIError) -> (HTTPResponse, AfterReply) {
        switch endpoint {
        case "vmm.ping": return (HTTPResponse(status: 200, body: Self.pingBody), .nothing)
        case "vm.info": return (HTTPResponse(status: 200, body: try vmm.infoBody()), .nothing)
        case "vm.counters": return (.ok(try vmm.counters()), .nothing)
        case "vmm.shutdown":
            vmm.delete()
            return (.noContent, .exitProcess)
        case "vm.create": try vmm.create(body: body)
        case "vm.delete": vmm.delete()
        case "vm.boot": try vmm.boot()
        case "vm.shutdown": try vmm.shutdown()
        case "vm.reboot": try vmm.reboot()
        case "vm.pause": try vmm.pause()
        case "vm.resume": try vmm.resume()
        case "vm.power-button":
            try vmm.checkPowerButton()
            return (.noContent, .guestPowerOff)
        case "vm.resize": try vmm.resize(body: body)
        case "vm.resize-disk": try vmm.resizeDisk(body: body)
        case "vm.snapshot": try vmm.snapshot(body: body)
        case "vm.restore": try vmm.restore(body: body)
        default:
            let action = "Error handling \(endpoint)"
            guard vmm.config != nil else { throw APIError.notCreated(action) }
            throw APIError(.failed, action, "\(endpoint) is not supported by cloud-hypervisor-sim")
        }
        return (.noContent, .nothing)
    }

    /// The `vmm.ping` body: nothing in it changes while the process lives.
    private static let pingBody = JSONWriter.compact(ping())

    /// `vmm.ping`: `VmmPingResponse` with this process's pid.
    static func ping() -> JSONValue {
        .object([
            "version": .string(SimVersion.version),
            "build_version": .string(SimVersion.build),
            "pid": .int(Int64(getpid())),
            "features": .array([.string("kvm"), .string("sim")]),
        ])
    }
}

@available(*, unavailable)
extension Endpoints: Sendable {}
