/// The first line of a host-initiated hybrid vsock connection: `CONNECT <port>\n`.
///
/// As Cloud Hypervisor's muxer (from Firecracker) reads it: the verb is case-insensitive, words are
/// separated by whitespace (so `\r\n` works), and the port is a decimal `u32`.
enum VsockHandshake {
    /// The result of looking at the bytes read so far.
    enum Outcome: Equatable {
        /// No newline yet.
        case incomplete
        /// A well-formed request for `port`; `consumed` bytes belong to the line, the rest to the stream.
        case connect(port: UInt32, consumed: Int)
        /// Not a `CONNECT` line, or too long: the VMM closes the connection without answering.
        case malformed
    }

    /// The longest line accepted, newline included.
    static let maximumLineBytes = 64

    /// Parses the line at the start of `buffer`.
    static func parse(_ buffer: [UInt8]) -> Outcome {
        guard let newline = buffer.prefix(maximumLineBytes).firstIndex(of: UInt8(ascii: "\n")) else {
            return buffer.count >= maximumLineBytes ? .malformed : .incomplete
        }
        guard let line = String(validating: buffer[..<newline], as: UTF8.self) else { return .malformed }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        guard words.count == 2, words[0].lowercased() == "connect",
            words[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let port = UInt32(words[1])
        else { return .malformed }
        return .connect(port: port, consumed: newline + 1)
    }
}
