/// One HTTP response as Cloud Hypervisor's micro_http server writes it.
struct HTTPResponse: Equatable, Sendable {
    var status: Int
    /// A JSON body, or nil for `204 No Content`.
    var body: String?

    /// `204 No Content`.
    static let noContent = HTTPResponse(status: 204, body: nil)

    /// `200 OK` with a JSON body.
    static func ok(_ json: JSONValue) -> HTTPResponse {
        HTTPResponse(status: 200, body: JSONWriter.compact(json))
    }

    /// An error with a JSON array-of-strings body.
    static func error(_ status: Int, _ messages: [String]) -> HTTPResponse {
        HTTPResponse(status: status, body: JSONWriter.errorBody(messages))
    }

    /// The bytes on the wire.
    ///
    /// - Parameters:
    ///   - close: whether the server closes the connection after this response.
    ///   - server: the `Server` header (the guest agent is not Cloud Hypervisor).
    func serialized(close: Bool, server: String = "Cloud Hypervisor API") -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        head += "Server: \(server)\r\n"
        head += "Connection: \(close ? "close" : "keep-alive")\r\n"
        if let body {
            head += "Content-Type: application/json\r\n"
            head += "Content-Length: \(body.utf8.count)\r\n\r\n"
            return Array(head.utf8) + Array(body.utf8)
        }
        if status != 204 { head += "Content-Length: 0\r\n" }
        return Array((head + "\r\n").utf8)
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        default: "Status"
        }
    }
}
