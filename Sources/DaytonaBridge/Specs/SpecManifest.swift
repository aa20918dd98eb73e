import Resources

/// Renders the spec files the bridge owns. Every string is double-quoted, so no value
/// can turn into YAML syntax (`true`, `1.0`, a `#`).
enum SpecManifest {
    /// The file that holds sandbox `name`, relative to the spec directory.
    static func sandboxFile(_ name: String) -> String { "sandbox-\(name).yaml" }
    /// The file that holds snapshot `name`, relative to the spec directory.
    static func snapshotFile(_ name: String) -> String { "snapshot-\(name).yaml" }

    static func sandbox(_ name: String, _ s: SandboxSpec, daytonaID: String) -> String {
        var lines = [
            "# Written by `converge daytona` for Daytona sandbox \(quoted(daytonaID)); the bridge owns this file.",
            "apiVersion: converge.dev/v1", "kind: Sandbox", "metadata:", "  name: \(quoted(name))", "spec:",
            "  runtime: \(quoted(s.runtime.rawValue))", "  state: \(quoted(s.state.rawValue))",
        ]
        if let cpus = s.cpus { lines.append("  cpus: \(cpus)") }
        if let memory = s.memory { lines.append("  memory: \(quoted(memory.description))") }
        if let disk = s.disk { lines.append("  disk: \(quoted(disk.description))") }
        if let limits = s.limits {
            var parts: [String] = []
            if let c = limits.cpus { parts.append("cpus: \(c)") }
            if let m = limits.memory { parts.append("memory: \(quoted(m.description))") }
            if !parts.isEmpty { lines.append("  limits: {\(parts.joined(separator: ", "))}") }
        }
        switch s.source {
        case .image(let i): lines.append("  source: {image: \(quoted(i))}")
        case .snapshot(let n): lines.append("  source: {snapshot: \(quoted(n))}")
        case .fork(let n): lines.append("  source: {fork: \(quoted(n))}")
        }
        if let pool = s.networkPool { lines.append("  network: {pool: \(quoted(pool))}") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func snapshot(_ name: String, _ s: SnapshotSpec, daytonaID: String) -> String {
        let source: String
        switch s.source {
        case .sandbox(let n): source = "{sandbox: \(quoted(n))}"
        case .path(let p): source = "{path: \(quoted(p))}"
        case .registry(let r): source = "{registry: \(quoted(r))}"
        }
        return [
            "# Written by `converge daytona` for a snapshot of Daytona sandbox \(quoted(daytonaID)); the bridge owns this file.",
            "apiVersion: converge.dev/v1", "kind: Snapshot", "metadata:", "  name: \(quoted(name))", "spec:",
            "  source: \(source)", "  memory: \(s.memory)",
        ].joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f { out += "\\x" + String(scalar.value, radix: 16).leftPadded(2) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
