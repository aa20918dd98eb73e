/// A JSON document as the simulator handles it.
///
/// Hand-written instead of Foundation's `JSONSerialization` so the simulator links only the
/// Swift runtime and Glibc: 200+ simulators run at once and each one should stay small.
/// Integers and fractions are kept apart because Cloud Hypervisor's serde types reject `1.0`
/// where they expect a `u64`.
enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

// MARK: - Accessors

extension JSONValue {
    /// The member `key` of an object; nil for a missing key or a non-object.
    subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members[key]
        }
        set {
            guard case .object(var members) = self else { return }
            members[key] = newValue
            self = .object(members)
        }
    }

    /// The integer, if this is one.
    var intValue: Int64? { if case .int(let v) = self { return v } else { return nil } }
    /// The string, if this is one.
    var stringValue: String? { if case .string(let v) = self { return v } else { return nil } }
    /// The boolean, if this is one.
    var boolValue: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    /// The elements, if this is an array.
    var arrayValue: [JSONValue]? { if case .array(let v) = self { return v } else { return nil } }
    /// Whether this is `null`.
    var isNull: Bool { self == .null }

    /// The member `key` unless it is missing or `null`.
    func present(_ key: String) -> JSONValue? {
        guard let value = self[key], !value.isNull else { return nil }
        return value
    }

    /// A short name of the JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
