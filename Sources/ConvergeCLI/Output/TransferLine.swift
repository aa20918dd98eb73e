import Foundation
import Reconciler

/// A registry transfer's progress on a terminal: one line rewritten in place
/// (`  golden: pushing 312Mi of 1Gi (30%)`), ended when the transfer ends. Not shown
/// when stderr is a file or a pipe; the record beside the snapshot has it.
enum TransferLine {
    @Sendable static func show(_ snapshot: String, _ record: RegistryRecord) {
        guard Output.isTerminal else { return }
        let line = "\r\u{1B}[2K  \(snapshot): \(record.summary(bytes: ByteUnits.human))"
        let end = record.state == .pushing || record.state == .pulling ? "" : "\n"
        _ = (line + end).withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}
