internal import CCurl
import Foundation

/// The state libcurl's C callbacks reach through their user pointer during one transfer.
/// It lives on the transfer's thread only; the cancel flag is the one shared part.
final class Exchange {
    let body: Data
    var sent = 0
    let sink: ResponseSink
    let cancel: CancelFlag
    /// Status of the latest response head (a 100 Continue is replaced by the final one).
    var status = 0
    var headers: [String: String] = [:]
    var memory = Data()
    var written: Int64 = 0
    let digest = SHA256Digest()
    var reported: Int64 = 0
    /// Set by a callback that aborted the transfer, so the cause beats curl's generic code.
    var failure: TransferFailure?

    init(body: Data, sink: ResponseSink, cancel: CancelFlag) {
        self.body = body
        self.sink = sink
        self.cancel = cancel
    }

    var isFileSink: Bool {
        if case .file = sink { return true }
        return false
    }

    private static func from(_ user: UnsafeMutableRawPointer?) -> Exchange? {
        user.map { Unmanaged<Exchange>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Calls the download's progress closure at most every MiB, and once at the end.
    func reportProgress(force: Bool) {
        guard case .file(_, _, _, let progress) = sink, force || written - reported >= 1 << 20 else { return }
        reported = written
        progress.report(written)
    }

    static let read: ccurl_read_callback = { buffer, size, count, user in
        guard let buffer, let exchange = from(user) else { return Int(CURL_READFUNC_ABORT) }
        let n = min(size * count, exchange.body.count - exchange.sent)
        guard n > 0 else { return 0 }
        let start = exchange.body.startIndex + exchange.sent
        exchange.body.copyBytes(to: UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self),
                                from: start..<(start + n))
        exchange.sent += n
        return n
    }

    static let header: ccurl_header_callback = { buffer, size, count, user in
        let n = size * count
        guard let buffer, let exchange = from(user) else { return 0 }
        let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: n), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            // A new response head (after 100 Continue): start its headers afresh.
            let fields = line.split(separator: " ")
            exchange.status = fields.count > 1 ? Int(fields[1]) ?? 0 : 0
            exchange.headers = [:]
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            exchange.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return n
    }

    static let write: ccurl_write_callback = { buffer, size, count, user in
        let n = size * count
        guard let buffer, let exchange = from(user) else { return 0 }
        let bytes = UnsafeRawBufferPointer(start: buffer, count: n)
        guard case .file(let fd, let offset, let limit, _) = exchange.sink, (200..<300).contains(exchange.status) else {
            // An error document is small; past 1 MiB of one the rest is not worth keeping.
            let isError = !(200..<300).contains(exchange.status)
            exchange.memory.append(contentsOf: isError ? UnsafeRawBufferPointer(rebasing: bytes.prefix(max(0, (1 << 20) - exchange.memory.count))) : bytes)
            return n
        }
        if let limit, exchange.written + Int64(n) > limit {
            // The server ignored the Range: writing on would spill past the caller's region.
            exchange.failure = .overflow(limit: limit)
            return 0
        }
        var done = 0
        while done < n {
            let r = pwrite(fd, buffer + done, n - done, off_t(offset + exchange.written + Int64(done)))
            if r < 0 {
                if errno == EINTR { continue }
                exchange.failure = .localWrite(reason: String(cString: strerror(errno)))
                return 0
            }
            done += r
        }
        exchange.digest.update(bytes)
        exchange.written += Int64(n)
        exchange.reportProgress(force: false)
        return n
    }

    static let progress: ccurl_progress_callback = { user, _, _, _, _ in
        guard let exchange = from(user) else { return 0 }
        return exchange.cancel.raised.load(ordering: .relaxed) ? 1 : 0
    }
}
