/// A failed API call: which class of failure (it picks the status code) and Cloud Hypervisor's
/// message chain, outermost first, e.g. `["Error booting VM", "VM is already booted"]`.
struct APIError: Error, Equatable, Sendable {
    /// The failure classes of `vmm/src/api/http/mod.rs`.
    enum Kind: Equatable, Sendable {
        /// 400: the body does not parse, the config fails validation, or the method is wrong.
        case badRequest
        /// 404: unknown endpoint, VM not created, unknown device id.
        case notFound
        /// 409: duplicate device id or disk path.
        case conflict
        /// A state-machine error: 500 as the server code sends, or 405 as the OpenAPI file lists
        /// (`CH_SIM_STATE_ERROR_STATUS=405`).
        case invalidState
        /// 500: everything else.
        case failed
    }

    var kind: Kind
    var messages: [String]

    init(_ kind: Kind, _ messages: String...) {
        self.kind = kind
        self.messages = messages
    }

    init(_ kind: Kind, messages: [String]) {
        self.kind = kind
        self.messages = messages
    }

    /// The HTTP status for this error.
    ///
    /// - Parameter stateErrorStatus: 500 (the code) or 405 (the OpenAPI file).
    func status(stateErrorStatus: Int) -> Int {
        switch kind {
        case .badRequest: 400
        case .notFound: 404
        case .conflict: 409
        case .invalidState: stateErrorStatus
        case .failed: 500
        }
    }

    /// The same error with `outer` put in front of the chain.
    func wrapped(_ outer: String) -> APIError {
        APIError(kind, messages: [outer] + messages)
    }
}

// MARK: - Common errors

extension APIError {
    /// 404: no config is stored.
    static func notCreated(_ action: String) -> APIError {
        APIError(.notFound, action, "VM is not created")
    }

    /// A state-machine error for `action` with `reason`.
    static func state(_ action: String, _ reason: String) -> APIError {
        APIError(.invalidState, action, reason)
    }

    /// 400: a body that is not JSON or does not fit its schema.
    static func body(_ detail: String) -> APIError {
        APIError(.badRequest, "Error parsing request body", detail)
    }
}
