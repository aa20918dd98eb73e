import Glibc

/// Appends one JSON line per request, for schema validation by tests (`CH_SIM_REQUEST_LOG`):
/// `{"method":"PUT","path":"/api/v1/vm.create","body":{...},"status":204}`.
///
/// Opened with `O_APPEND` and written with one `write(2)` per line, so many simulators can share
/// one file without interleaving lines.
final class RequestLog {
    private let fd: FileDescriptor

    /// Opens (creating) the log.
    ///
    /// - Throws: `SystemError` from `open(2)`.
    init(path: String) throws(SystemError) {
        fd = try FileDescriptor(path: path, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
    }

    /// Records a request and the status it got (nil when the simulator crashed on purpose).
    ///
    /// A body that is not JSON is logged as `"body": null` plus `"body_error"` and `"body_text"`.
    func record(_ request: HTTPRequest, status: Int?) {
        var entry: [String: JSONValue] = [
            "method": .string(request.method),
            "path": .string(request.path),
            "status": status.map { .int(Int64($0)) } ?? .null,
            "pid": .int(Int64(getpid())),
        ]
        if request.body.isEmpty {
            entry["body"] = .null
        } else {
            do {
                entry["body"] = try JSONParser.parse(request.body)
            } catch {
                entry["body"] = .null
                entry["body_error"] = .string(error.description)
                entry["body_text"] = .string(String(decoding: request.body.prefix(4096), as: UTF8.self))
            }
        }
        var line = JSONWriter.compact(.object(entry))
        line.append(UInt8(ascii: "\n"))
        try? fd.writeAll(line)
    }
}

/// The `--log-file`: a few human-readable lines about what the simulated VMM did.
final class EventLog {
    private let fd: FileDescriptor?

    /// Opens (creating, appending) `path`, or logs nothing when nil or unopenable.
    init(path: String?) {
        fd = path.flatMap { try? FileDescriptor(path: $0, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644) }
    }

    /// Writes one line; the line is only built when there is a log to write it to.
    func write(_ line: @autoclosure () -> String) {
        guard let fd else { return }
        try? fd.writeAll(Array("cloud-hypervisor-sim[\(getpid())]: \(line())\n".utf8))
    }
}
