extension QEMU {
    /// Errors at the leaf of the QMP client. Every case names the socket or the command,
    /// so that a wrap higher up only has to add which sandbox it was for.
    public enum QMPError: Swift.Error, Sendable, CustomStringConvertible {
        /// The path does not fit in `sockaddr_un.sun_path` (107 bytes plus NUL).
        case socketPathTooLong(String)
        /// `socket` or `connect` failed (ENOENT: QEMU not started yet; ECONNREFUSED: gone).
        case connect(socket: String, SystemError)
        /// QEMU answered `{"error": {"class", "desc"}}` to `command`.
        case command(class: String, desc: String, command: String)
        /// No complete reply (or greeting) within the call's deadline.
        case timedOut(socket: String, command: String, seconds: Double)
        /// The peer closed the connection before `command` was answered (QEMU exited or was killed).
        case closed(socket: String, command: String)
        /// A send or receive failed while `command` was in flight.
        case io(socket: String, command: String, SystemError)
        /// The peer spoke something other than QMP (bad greeting, a line that is not a JSON object).
        case protocolViolation(socket: String, command: String, String)
        /// The reply to `command` did not decode as the QMP schema says.
        case decoding(command: String, String)

        public var description: String {
            switch self {
            case .socketPathTooLong(let p):
                "socket path \(p) is longer than the 107 bytes a Unix socket allows; use a shorter sockets directory"
            case .connect(let p, let e): "cannot connect to QMP socket \(p): \(e)"
            case .command(let cls, let desc, let command): "QMP \(command) failed: \(cls): \(desc)"
            case .timedOut(let p, let command, let s): "QMP \(command): no answer on \(p) within \(s)s"
            case .closed(let p, let command): "QMP \(command): \(p) closed the connection before answering (QEMU exited?)"
            case .io(let p, let command, let e): "QMP \(command): I/O on \(p): \(e)"
            case .protocolViolation(let p, let command, let why): "QMP \(command) on \(p): \(why)"
            case .decoding(let command, let why): "QMP \(command) answered with an unexpected value: \(why)"
            }
        }
    }
}
