internal import CCurl
import Dispatch
import Foundation
import Synchronization

/// One HTTP exchange as the bridge sees it.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: Data
}

/// A transport failure: no HTTP answer at all (refused, reset, timed out, TLS).
/// It never carries request headers, so a token cannot leak through it.
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var reason: String
    public var description: String { "\(method) \(url): \(reason)" }
}

/// An HTTP/1.1 client over libcurl (https, proxies from the environment, redirects).
/// Each request runs `curl_easy_perform` on a Dispatch thread, so a 60 s long poll never
/// holds a cooperative thread; cancelling the calling task aborts the transfer.
public struct HTTPClient: Sendable {
    /// Seconds allowed to connect (the whole request gets its own `timeout`).
    public var connectTimeout: Double = 5

    public init() {}

    private static let initialised: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    /// Sends one request.
    /// - Parameters:
    ///   - headers: sent as given; they appear in no error.
    ///   - timeout: seconds for the whole exchange.
    /// - Throws: `HTTPTransportError` when no answer came; `CancellationError` when cancelled.
    public func send(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil,
                     timeout: Double) async throws -> HTTPResponse {
        let transfer = Transfer()
        let connect = connectTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                DispatchQueue.global().async {
                    continuation.resume(with: Result {
                        try Self.perform(method, url, headers: headers, body: body, timeout: timeout, connectTimeout: connect, transfer)
                    })
                }
            }
        } onCancel: {
            transfer.cancelled.store(true, ordering: .relaxed)
        }
    }

    /// What the C callbacks reach through their user pointer.
    private final class Transfer: Sendable {
        let cancelled = Atomic<Bool>(false)
        let received = Mutex(Data())
    }

    private static func perform(_ method: String, _ url: String, headers: [String: String], body: Data?, timeout: Double,
                                connectTimeout: Double, _ transfer: Transfer) throws -> HTTPResponse {
        guard initialised, let handle = curl_easy_init() else {
            throw HTTPTransportError(method: method, url: url, reason: "libcurl could not be initialised")
        }
        defer { curl_easy_cleanup(handle) }
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        // An empty Expect stops curl from waiting a second for "100 Continue" on POST bodies.
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        _ = ccurl_setopt_string(handle, CURLOPT_URL, url)
        _ = ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)  // threads: no SIGALRM for DNS timeouts
        _ = ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_MAXREDIRS, 5)
        _ = ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
        _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout * 1000))
        _ = ccurl_setopt_write(handle) { data, size, count, user in
            guard let data, let user else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
            let n = size * count
            transfer.received.withLock { $0.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: n) }
            return n
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_setopt_progress(handle) { user, _, _, _, _ in
            guard let user else { return 0 }
            return Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue().cancelled.load(ordering: .relaxed) ? 1 : 0
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        _ = ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        let payload = body ?? Data()
        let code: CURLcode = payload.withUnsafeBytes { raw in
            if body != nil || method == "POST" || method == "PUT" {
                _ = ccurl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, payload.count)
                _ = ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
            return curl_easy_perform(handle)
        }
        if transfer.cancelled.load(ordering: .relaxed) { throw CancellationError() }
        guard code == CURLE_OK else {
            throw HTTPTransportError(method: method, url: url, reason: String(cString: curl_easy_strerror(code)))
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: transfer.received.withLock { $0 })
    }
}
