import Dispatch
import Foundation
import Synchronization

extension QEMU {
    /// A client of one QEMU's QMP monitor on its Unix socket: one connection per object.
    ///
    /// Concurrency: an actor whose executor is its own serial Dispatch queue. Each call is
    /// one synchronous exchange on that queue (write the request, read lines until the
    /// reply carrying the request's `id`), so blocking `poll`/`recv` never holds one of
    /// Swift's cooperative threads, and calls from several tasks run strictly one at a time
    /// with no reentrancy. Events read along the way are kept, in order, in a bounded log.
    /// A call's deadline starts when it is made, so time spent queued behind earlier calls
    /// counts. A call is not interrupted by task cancellation; its deadline bounds it.
    public actor QMPClient {
        /// The monitor socket this client is connected to.
        public nonisolated let socketPath: String
        /// What QEMU said when the connection opened.
        public nonisolated let greeting: QMPGreeting
        /// Deadline of calls that do not pass their own, in seconds.
        public nonisolated let timeout: Double
        /// How many events the log keeps; older ones are dropped first (`droppedEvents`).
        public static let eventCapacity = 256

        private let connection: QMPConnection
        private let executor: QueueExecutor
        private var log: EventLog
        private var nextID: Int64 = 1
        private let current = Mutex<String?>(nil)

        public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        /// Connects, reads the greeting and negotiates capabilities (`qmp_capabilities`, no
        /// optional capability enabled).
        /// - Parameters:
        ///   - socket: the path given to QEMU's `-qmp unix:PATH,server=on`.
        ///   - timeout: bounds the handshake, and every later call that passes no deadline.
        /// - Throws: `QMPError`: `.connect` (no listener yet: retry), `.timedOut`, `.closed`,
        ///   `.protocolViolation` (not a QMP monitor).
        public static func connect(socket: String, timeout: Double = 10) async throws -> QMPClient {
            let deadline = Deadline(seconds: timeout)
            return try await Blocking.run { try QMPClient(socket: socket, timeout: timeout, deadline: deadline) }
        }

        private init(socket: String, timeout: Double, deadline: Deadline) throws(QMPError) {
            let connection = try QMPConnection(path: socket)
            var log = EventLog(capacity: Self.eventCapacity)
            let first = try connection.readLine(command: "greeting", deadline: deadline)
            guard let greeting = Self.parseGreeting(first) else {
                throw .protocolViolation(socket: socket, command: "greeting",
                                         "expected a {\"QMP\": ...} greeting, got \(String(decoding: first.prefix(200), as: UTF8.self))")
            }
            _ = try Self.roundTrip(connection, id: 0, command: "qmp_capabilities", arguments: nil, passing: nil,
                                   deadline: deadline, log: &log)
            self.socketPath = socket
            self.greeting = greeting
            self.timeout = timeout
            self.connection = connection
            self.log = log
            self.executor = QueueExecutor(label: "converge.qmp")
        }

        // MARK: - Commands

        /// Runs one QMP command and returns its `return` member.
        /// - Parameters:
        ///   - command: the upstream command name, e.g. `query-status`.
        ///   - arguments: encoded as the request's `arguments` object; nil sends none.
        ///   - timeout: this call's deadline in seconds (default: the client's).
        /// - Throws: `QMPError.command(class:desc:command:)` when QEMU answers an error; `.timedOut`,
        ///   `.closed` or `.io` naming the socket and command otherwise.
        public nonisolated func execute<Arguments: Encodable>(_ command: String, arguments: Arguments?,
                                                              timeout: Double? = nil) async throws -> JSON {
            try await call(command, arguments: arguments, returning: JSON.self, timeout: timeout)
        }

        /// Runs one QMP command without arguments and returns its `return` member.
        public nonisolated func execute(_ command: String, timeout: Double? = nil) async throws -> JSON {
            try await call(command, arguments: JSON?.none, returning: JSON.self, timeout: timeout)
        }

        /// The command this client is waiting on, if any (readable while a call blocks the actor).
        public nonisolated var commandInFlight: String? { current.withLock { $0 } }

        /// Encodes, queues, exchanges and decodes; `passing` is sent as SCM_RIGHTS with the request.
        nonisolated func call<Arguments: Encodable, Result: Decodable>(
            _ command: String, arguments: Arguments?, passing descriptor: Int32? = nil,
            returning: Result.Type, timeout: Double?
        ) async throws -> Result {
            let deadline = Deadline(seconds: timeout ?? self.timeout)
            let encoded: Data?
            do { encoded = try arguments.map { try JSONEncoder().encode($0) } } catch {
                throw QMPError.decoding(command: command, "arguments do not encode: \(error)")
            }
            let reply = try await exchange(command, arguments: encoded, passing: descriptor, deadline: deadline)
            do { return try JSONDecoder().decode(Envelope<Result>.self, from: reply).return } catch {
                throw QMPError.decoding(command: command, "\(error)")
            }
        }

        private func exchange(_ command: String, arguments: Data?, passing descriptor: Int32?,
                              deadline: Deadline) throws(QMPError) -> Data {
            let id = nextID
            nextID += 1
            current.withLock { $0 = command }
            defer { current.withLock { $0 = nil } }
            return try Self.roundTrip(connection, id: id, command: command, arguments: arguments, passing: descriptor,
                                      deadline: deadline, log: &log)
        }

        // MARK: - Events

        /// The events collected so far (oldest first), after reading any that already
        /// arrived on the socket. Does not wait and does not remove them.
        public func events() throws(QMPError) -> [QMPEvent] {
            try collectAvailable()
            return log.events
        }

        /// Like `events()`, and empties the log.
        public func drainEvents() throws(QMPError) -> [QMPEvent] {
            try collectAvailable()
            return log.drain()
        }

        /// How many events were dropped because the log was full.
        public var droppedEvents: Int { log.dropped }

        /// Removes and returns the oldest collected event named `name`, reading the socket
        /// until one arrives. Other events stay in the log. Like a call, it waits its turn
        /// behind earlier calls, and that wait counts against `timeout`.
        /// - Throws: `.timedOut` (its command reads `event NAME`), `.closed`.
        public nonisolated func waitForEvent(_ name: String, timeout: Double? = nil) async throws -> QMPEvent {
            try await awaitEvent(name, deadline: Deadline(seconds: timeout ?? self.timeout))
        }

        private func awaitEvent(_ name: String, deadline: Deadline) throws(QMPError) -> QMPEvent {
            let label = "event \(name)"
            while true {
                if let event = log.remove(named: name) { return event }
                let line = try connection.readLine(command: label, deadline: deadline)
                _ = try Self.classify(line, socket: socketPath, command: label, log: &log)
            }
        }

        private func collectAvailable() throws(QMPError) {
            while let line = try connection.readLineIfAvailable(command: "events") {
                _ = try Self.classify(line, socket: socketPath, command: "events", log: &log)
            }
        }

        // MARK: - Wire

        /// Sends `{"execute", "arguments", "id"}` and reads until the reply with `id`; events
        /// go to `log`; replies with another id (from a call that timed out) are dropped.
        private static func roundTrip(_ connection: QMPConnection, id: Int64, command: String, arguments: Data?,
                                      passing descriptor: Int32?, deadline: Deadline,
                                      log: inout EventLog) throws(QMPError) -> Data {
            var request = Data("{\"execute\":".utf8) + Self.quoted(command) + Data(",\"id\":\(id)".utf8)
            if let arguments { request += Data(",\"arguments\":".utf8) + arguments }
            request += Data("}\n".utf8)
            try connection.send(Array(request), passing: descriptor, command: command, deadline: deadline)
            while true {
                let line = try connection.readLine(command: command, deadline: deadline)
                guard case .reply(let replyID, let body, let error) = try classify(line, socket: connection.path,
                                                                                   command: command, log: &log),
                      replyID == .int(id) else { continue }
                if let error {
                    throw .command(class: error["class"]?.stringValue ?? "unknown",
                                   desc: error["desc"]?.stringValue ?? error.description, command: command)
                }
                return body
            }
        }

        private enum Message { case event, greeting, reply(id: JSON?, body: Data, error: JSON?) }

        private static func classify(_ line: [UInt8], socket: String, command: String,
                                     log: inout EventLog) throws(QMPError) -> Message {
            let data = Data(line)
            guard let value = try? JSONDecoder().decode(JSON.self, from: data), case .object(let members) = value else {
                throw .protocolViolation(socket: socket, command: command,
                                         "not a JSON object: \(String(decoding: line.prefix(200), as: UTF8.self))")
            }
            if let name = members["event"]?.stringValue {
                let stamp = members["timestamp"]
                let seconds = Double(stamp?["seconds"]?.intValue ?? 0) + Double(stamp?["microseconds"]?.intValue ?? 0) / 1e6
                log.append(QMPEvent(name: name, data: members["data"] ?? .null, timestamp: seconds))
                return .event
            }
            if members["return"] != nil || members["error"] != nil {
                return .reply(id: members["id"], body: data, error: members["error"])
            }
            if members["QMP"] != nil { return .greeting }
            throw .protocolViolation(socket: socket, command: command,
                                     "neither reply nor event: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }

        private static func parseGreeting(_ line: [UInt8]) -> QMPGreeting? {
            guard let value = try? JSONDecoder().decode(JSON.self, from: Data(line)), let qmp = value["QMP"] else { return nil }
            let version = qmp["version"]?["qemu"]
            let parts = ["major", "minor", "micro"].map { version?[$0]?.intValue.map(String.init) ?? "?" }
            let capabilities: [String]
            if case .array(let items) = qmp["capabilities"] { capabilities = items.compactMap(\.stringValue) } else { capabilities = [] }
            return QMPGreeting(version: parts.joined(separator: "."), package: qmp["version"]?["package"]?.stringValue ?? "",
                               capabilities: capabilities)
        }

        private static func quoted(_ string: String) -> Data {
            (try? JSONEncoder().encode(string)) ?? Data("\"\"".utf8)
        }
    }

    /// `{"return": T}`: the part of a reply a typed helper decodes.
    struct Envelope<T: Decodable>: Decodable {
        var `return`: T
    }

    /// Events in arrival order, at most `capacity`; the oldest go first when full.
    struct EventLog {
        let capacity: Int
        private(set) var events: [QMPEvent] = []
        private(set) var dropped = 0

        init(capacity: Int) { self.capacity = capacity }

        mutating func append(_ event: QMPEvent) {
            if events.count == capacity { events.removeFirst(); dropped += 1 }
            events.append(event)
        }

        mutating func remove(named name: String) -> QMPEvent? {
            guard let index = events.firstIndex(where: { $0.name == name }) else { return nil }
            return events.remove(at: index)
        }

        mutating func drain() -> [QMPEvent] {
            defer { events.removeAll() }
            return events
        }
    }

    /// Runs an actor's jobs on one serial Dispatch queue (Linux's Dispatch has no
    /// `DispatchSerialQueue` executor), so that the actor may block in syscalls without
    /// holding a thread of Swift's cooperative pool.
    final class QueueExecutor: SerialExecutor {
        private let queue: DispatchQueue

        init(label: String) { queue = DispatchQueue(label: label) }

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            let executor = asUnownedSerialExecutor()
            queue.async { job.runSynchronously(on: executor) }
        }
    }
}
