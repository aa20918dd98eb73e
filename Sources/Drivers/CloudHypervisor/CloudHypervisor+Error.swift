extension CloudHypervisor {
    /// Errors at the leaf of the CH driver.
    public enum Error: Swift.Error, Sendable, CustomStringConvertible {
        /// A non-2xx answer; `messages` is CH's error array, outermost first.
        case http(endpoint: String, status: Int, messages: [String])
        /// The answer did not decode as the schema says.
        case decoding(endpoint: String, String)
        /// The socket could not be reached or did not answer.
        case transport(endpoint: String, UnixHTTPError)

        public var description: String {
            switch self {
            case .http(let endpoint, let status, let messages):
                "\(endpoint) answered \(status): \(messages.isEmpty ? "no message" : messages.joined(separator: ": "))"
            case .decoding(let endpoint, let why): "\(endpoint) answered with an unexpected body: \(why)"
            case .transport(let endpoint, let error): "\(endpoint): \(error)"
            }
        }
    }
}
