import Resources

/// Field-by-field differences, for the plan's `field: from → to` lines.
enum FieldDiff {
    static func changes(from a: SandboxConfig, to b: SandboxConfig) -> [Change] {
        var result: [Change] = []
        // Values are compared first and written out only when they differ: a converged
        // host's plan compares ten thousand configs that do not.
        func add<T: Equatable>(_ field: String, _ x: T, _ y: T, _ show: (T) -> String) {
            guard x != y else { return }
            let (from, to) = (show(x), show(y))
            if from != to { result.append(Change(field, from: from, to: to)) }
        }
        add("cpus", a.cpus, b.cpus) { "\($0)" }
        add("memory", a.memory, b.memory) { "\($0)" }
        add("disk", a.disk, b.disk) { "\($0)" }
        add("limits.cpus", a.limits?.cpus, b.limits?.cpus) { $0.map(String.init) ?? "none" }
        add("limits.memory", a.limits?.memory, b.limits?.memory) { $0.map(\.description) ?? "none" }
        add("network.pool", a.networkPool, b.networkPool) { $0 ?? "none" }
        add("balloon.policy", a.balloonPolicy, b.balloonPolicy) { $0 ?? "none" }
        add("devices.gpus", a.gpus, b.gpus) { $0.joined(separator: ",") }
        add("snapshotCompatible", a.snapshotCompatible ?? false, b.snapshotCompatible ?? false) { "\($0)" }
        return result
    }

    static func changes(from a: ResourceBody, to b: ResourceBody) -> [Change] {
        switch (a, b) {
        case (.tapPool(let x), .tapPool(let y)):
            var r: [Change] = []
            if x.size != y.size { r.append(Change("size", from: "\(x.size)", to: "\(y.size)")) }
            if x.subnet != y.subnet { r.append(Change("subnet", from: "\(x.subnet)", to: "\(y.subnet)")) }
            if x.guestGateway != y.guestGateway { r.append(Change("guest.gateway", from: "\(x.guestGateway)", to: "\(y.guestGateway)")) }
            if x.guestAddress != y.guestAddress { r.append(Change("guest.address", from: "\(x.guestAddress)", to: "\(y.guestAddress)")) }
            if x.nat != y.nat { r.append(Change("nat", from: "\(x.nat)", to: "\(y.nat)")) }
            return r
        case (.balloonPolicy(let x), .balloonPolicy(let y)):
            var r: [Change] = []
            if x.interval != y.interval { r.append(Change("interval", from: "\(x.interval)", to: "\(y.interval)")) }
            if x.minVM != y.minVM { r.append(Change("minVM", from: "\(x.minVM)", to: "\(y.minVM)")) }
            if x.buffer != y.buffer { r.append(Change("buffer", from: "\(x.buffer)", to: "\(y.buffer)")) }
            if x.bufferRatio != y.bufferRatio { r.append(Change("bufferRatio", from: "\(x.bufferRatio)", to: "\(y.bufferRatio)")) }
            return r
        case (.snapshot(let x), .snapshot(let y)):
            var r: [Change] = []
            if x.source != y.source { r.append(Change("source", from: "\(x.source)", to: "\(y.source)")) }
            if x.memory != y.memory { r.append(Change("memory", from: "\(x.memory)", to: "\(y.memory)")) }
            return r
        default:
            return []
        }
    }
}
