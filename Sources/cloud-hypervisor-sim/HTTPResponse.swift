/// One HTTP response as Cloud Hypervisor's micro_http server writes it.
struct HTTPResponse: Equatable, Sendable {
    var status: Int
    /// A JSON body (UTF-8), or nil for `204 No Content`.
    var body: [UInt8]?

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

    /// Appends the bytes on the wire to `out` (a connection's output buffer), with no
    /// intermediate copies.
    ///
    /// - Parameters:
    ///   - close: whether the server closes the connection after this response.
    ///   - server: the `Server` header (the guest agent is not Cloud Hypervisor).
    func write(to out: inout [UInt8], close: Bool, server: String = "Cloud Hypervisor API") {
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(Int64(status), to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: Self.reason(status).utf8)
        out.append(contentsOf: "\r\nServer: ".utf8)
        out.append(contentsOf: server.utf8)
        out.append(contentsOf: (close ? "\r\nConnection: close\r\n" : "\r\nConnection: keep-alive\r\n").utf8)
        if let body {
            out.append(contentsOf: "Content-Type: application/json\r\nContent-Length: ".utf8)
            appendDecimal(Int64(body.count), to: &out)
            out.append(contentsOf: "\r\n\r\n".utf8)
            out.append(contentsOf: body)
            return
        }
        if status != 204 { out.append(contentsOf: "Content-Length: 0\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
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
