import Foundation
import Reconciler
import Synchronization

/// A transfer's progress: kept in `registry.json` (what `get snapshots` and the status
/// files show) and passed to a sink (the terminal), each at most every quarter second.
final class TransferProgress: Sendable {
    typealias Sink = @Sendable (_ snapshot: String, _ record: RegistryRecord) -> Void

    private let state: Mutex<(record: RegistryRecord, lastWrite: Double)>
    private let directory: String
    private let name: String
    private let sink: Sink?

    init(_ record: RegistryRecord, directory: String, name: String, sink: Sink?) {
        self.state = Mutex((record, 0))
        self.directory = directory
        self.name = name
        self.sink = sink
    }

    var record: RegistryRecord { state.withLock { $0.record } }

    /// Starts over from `record` (a pull learns its size from the manifest).
    func reset(_ record: RegistryRecord) {
        state.withLock { $0.record = record }
        publish(record)
    }

    func advance(by bytes: Int64) {
        let now = Clock.now
        let due: RegistryRecord? = state.withLock { s in
            s.record.bytesDone += bytes
            s.record.updatedAt = now
            guard now - s.lastWrite >= 0.25 else { return nil }
            s.lastWrite = now
            return s.record
        }
        if let due { publish(due) }
    }

    /// Records the end state (`pushed`, `pulled`) with every byte counted.
    func finish(_ final: RegistryRecord.State) throws {
        let record = state.withLock { s in
            s.record.state = final
            s.record.bytesDone = s.record.bytesTotal
            s.record.reason = nil
            s.record.failedDuring = nil
            s.record.updatedAt = Clock.now
            return s.record
        }
        try RegistryRecordFile.write(record, in: directory)
        sink?(name, record)
    }

    /// Records why the transfer stopped; the ledger keeps what had landed.
    func fail(_ reason: String, during direction: TransferLedger.Direction) {
        let record = state.withLock { s in
            s.record.state = .failed
            s.record.reason = reason
            s.record.failedDuring = direction.rawValue
            s.record.updatedAt = Clock.now
            return s.record
        }
        try? RegistryRecordFile.write(record, in: directory)
        sink?(name, record)
    }

    private func publish(_ record: RegistryRecord) {
        try? RegistryRecordFile.write(record, in: directory)
        sink?(name, record)
    }
}
