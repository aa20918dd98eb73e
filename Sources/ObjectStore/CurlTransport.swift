internal import CCurl
import Dispatch
import Foundation
import Synchronization

/// One HTTP request as the S3 client hands it to libcurl. Headers already carry the signature.
struct HTTPRequest: Sendable {
    var method: String
    var url: String
    var headers: [String: String]
    /// Sent with a known Content-Length for PUT and POST (possibly empty); ignored otherwise.
    var body: Data
}

/// Where a 2xx response body goes. Error bodies always go to memory so they can be parsed.
enum ResponseSink: Sendable {
    case memory
    /// pwrite at `offset` + bytes so far, hashing as it goes; at most `limit` bytes when set.
    case file(fd: Int32, offset: Int64, limit: Int64?, progress: ProgressRelay)
}

/// Carries the caller's non-escaping progress closure to the transfer's thread. The caller
/// clears it before its frame ends, so no reference to the closure outlives the call even
/// while Dispatch still holds the finished transfer's block.
final class ProgressRelay: Sendable {
    private let closure: Mutex<(@Sendable (Int64) -> Void)?>

    init(_ closure: @escaping @Sendable (Int64) -> Void) { self.closure = Mutex(closure) }

    func report(_ bytes: Int64) {
        closure.withLock { $0 }?(bytes)
    }

    func clear() { closure.withLock { $0 = nil } }
}

struct HTTPResult: Sendable {
    var status: Int
    /// Lowercased names, last value wins.
    var headers: [String: String]
    /// The body of a memory sink, or of any non-2xx answer.
    var body: Data
    /// Bytes pwritten by a file sink and their SHA-256.
    var written: Int64 = 0
    var sha256: [UInt8] = []
}

/// Why a transfer produced no usable answer. Never carries headers, so never a signature.
enum TransferFailure: Error {
    case transport(reason: String, retryable: Bool)
    case localWrite(reason: String)
    case overflow(limit: Int64)
    case cancelled
}

/// libcurl easy handles are not thread-safe but are reusable, and each keeps its own
/// connection cache: the pool hands a handle to one transfer at a time, which is why
/// sending it between threads is sound.
struct CurlHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
}

/// Reusing handles is what makes keep-alive work: a fresh handle would open a new connection.
final class CurlHandlePool: Sendable {
    private let idle = Mutex<[CurlHandle]>([])
    private let keep: Int

    init(keep: Int = 16) { self.keep = keep }

    deinit {
        for handle in idle.withLock({ $0 }) { curl_easy_cleanup(handle.raw) }
    }

    func take() -> CurlHandle? {
        if let handle = idle.withLock({ $0.popLast() }) { return handle }
        return curl_easy_init().map(CurlHandle.init)
    }

    /// The handle comes back reset (options and pointers cleared, connections kept).
    func give(_ handle: CurlHandle) {
        curl_easy_reset(handle.raw)
        let kept = idle.withLock { list -> Bool in
            guard list.count < keep else { return false }
            list.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle.raw) }
    }
}

/// Set from a task's cancellation handler, read by curl's progress callback to abort.
final class CancelFlag: Sendable {
    let raised = Atomic<Bool>(false)
}

/// Runs requests with libcurl, each on a Dispatch thread so a slow 64 MiB part never holds
/// one of the few cooperative threads.
struct CurlTransport: Sendable {
    let pool = CurlHandlePool()
    /// Connections libcurl had to open (CURLINFO_NUM_CONNECTS): tests check that keep-alive works.
    let connectionsOpened = Counter()

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private static let initialised: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    func send(_ request: HTTPRequest, sink: ResponseSink) async throws -> HTTPResult {
        try Task.checkCancellation()
        let cancel = CancelFlag()
        let pool = self.pool
        let opened = connectionsOpened
        let result: Result<HTTPResult, TransferFailure> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(returning: Result { try Self.perform(request, sink: sink, pool: pool, cancel: cancel, opened: opened) }
                        .mapError { $0 as? TransferFailure ?? .transport(reason: "\($0)", retryable: false) })
                }
            }
        } onCancel: {
            cancel.raised.store(true, ordering: .relaxed)
        }
        if case .failure(.cancelled) = result { throw CancellationError() }
        return try result.get()
    }

    private static func perform(_ request: HTTPRequest, sink: ResponseSink, pool: CurlHandlePool,
                                cancel: CancelFlag, opened: Counter) throws -> HTTPResult {
        guard initialised, let handle = pool.take() else {
            throw TransferFailure.transport(reason: "libcurl could not be initialised", retryable: false)
        }
        defer {
            var connects = 0
            _ = ccurl_getinfo_long(handle.raw, CURLINFO_NUM_CONNECTS, &connects)
            opened.value.add(connects, ordering: .relaxed)
            pool.give(handle)
        }
        let exchange = Exchange(body: request.body, sink: sink, cancel: cancel)
        return try withExtendedLifetime(exchange) {
            try run(request, on: handle.raw, exchange: exchange)
        }
    }

    private static func run(_ request: HTTPRequest, on handle: UnsafeMutableRawPointer, exchange: Exchange) throws -> HTTPResult {
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
        // An empty Expect stops curl from waiting for "100 Continue" before sending a part.
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        let context = Unmanaged.passUnretained(exchange).toOpaque()

        _ = ccurl_setopt_string(handle, CURLOPT_URL, request.url)
        _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        _ = ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)  // threads: no SIGALRM for DNS timeouts
        _ = ccurl_setopt_long(handle, CURLOPT_PATH_AS_IS, 1)  // the signed path must go out as signed
        _ = ccurl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        _ = ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)  // a redirect would need a new signature
        _ = ccurl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        // No total timeout: a big part may take minutes. A stalled transfer is cut instead.
        _ = ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1024)
        _ = ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, 30)

        switch request.method {
        case "GET":
            _ = ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case "HEAD":
            _ = ccurl_setopt_long(handle, CURLOPT_NOBODY, 1)
        case "PUT", "POST":
            _ = ccurl_setopt_long(handle, CURLOPT_UPLOAD, 1)
            _ = ccurl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.count))
            _ = ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
            _ = ccurl_setopt_read(handle, Exchange.read)
            _ = ccurl_setopt_pointer(handle, CURLOPT_READDATA, context)
        default:
            _ = ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        _ = ccurl_setopt_header(handle, Exchange.header)
        _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = ccurl_setopt_write(handle, Exchange.write)
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_setopt_progress(handle, Exchange.progress)
        _ = ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        _ = ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)

        let code = curl_easy_perform(handle)
        if exchange.cancel.raised.load(ordering: .relaxed) { throw TransferFailure.cancelled }
        if let failure = exchange.failure { throw failure }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let reason = "\(request.method) \(request.url): " + (detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
            throw TransferFailure.transport(reason: reason, retryable: !Self.permanent.contains(code))
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if exchange.isFileSink, (200..<300).contains(status) {
            exchange.reportProgress(force: true)
        }
        return HTTPResult(status: status, headers: exchange.headers, body: exchange.memory, written: exchange.written,
                          sha256: exchange.isFileSink && (200..<300).contains(status) ? exchange.digest.finalize() : [])
    }

    /// Failures that the same request would meet again: retrying them only wastes time.
    private static let permanent: [CURLcode] = [CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_PEER_FAILED_VERIFICATION,
                                                CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE]
}
