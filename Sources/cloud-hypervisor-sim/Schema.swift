/// The shape of one JSON value in a request body, transcribed from the OpenAPI file.
///
/// `Schema.normalize` does what serde does when CH deserialises a body and serialises it again
/// for `vm.info`: it checks types, drops unknown members, fills defaults and writes `null` for
/// absent optional members.
indirect enum Schema: Sendable {
    case string
    case bool
    case integer(min: Int64, max: Int64)
    case enumeration([String])
    case array(Schema)
    case object(ObjectSchema)
    /// Any JSON value, kept as it is.
    case any

    /// A `u64` byte count or other non-negative integer.
    static let u64 = Schema.integer(min: 0, max: .max)
    /// A `u32`.
    static let u32 = Schema.integer(min: 0, max: Int64(UInt32.max))
    /// A `u16`.
    static let u16 = Schema.integer(min: 0, max: Int64(UInt16.max))
    /// A `u8`.
    static let u8 = Schema.integer(min: 0, max: Int64(UInt8.max))
    /// An `i32`.
    static let i32 = Schema.integer(min: Int64(Int32.min), max: Int64(Int32.max))
    /// An integer without a declared format.
    static let int = Schema.integer(min: .min, max: .max)
}

/// One member of an object schema.
struct Field: Sendable {
    var name: String
    var schema: Schema
    var required: Bool
    /// Written when the member is absent or null; objects are normalised in turn.
    var defaultValue: JSONValue?
}

/// The members of one object type, in the order of the OpenAPI file.
struct ObjectSchema: Sendable {
    var name: String
    var fields: [Field]
}

/// Why a body does not fit its schema, in serde's words, with the JSON path of the value.
struct SchemaError: Error, Equatable, Sendable, CustomStringConvertible {
    var path: String
    var message: String

    var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

// MARK: - Table helpers

/// A required member.
func req(_ name: String, _ schema: Schema) -> Field {
    Field(name: name, schema: schema, required: true, defaultValue: nil)
}

/// An optional member without a default (`Option<T>` in CH: serialised as `null`).
func opt(_ name: String, _ schema: Schema) -> Field {
    Field(name: name, schema: schema, required: false, defaultValue: nil)
}

/// An optional member with a default.
func dflt(_ name: String, _ schema: Schema, _ value: JSONValue) -> Field {
    Field(name: name, schema: schema, required: false, defaultValue: value)
}

// MARK: - Normalisation

extension Schema {
    /// Checks `value` against this schema and returns it with defaults filled in.
    ///
    /// - Parameters:
    ///   - value: the decoded JSON.
    ///   - path: where `value` sits in the body, e.g. `disks[1].path`.
    /// - Throws: `SchemaError` for the first mismatch.
    func normalize(_ value: JSONValue, path: String = "") throws(SchemaError) -> JSONValue {
        switch self {
        case .any:
            return value
        case .string:
            guard case .string = value else { throw mismatch(value, "a string", path) }
            return value
        case .bool:
            guard case .bool = value else { throw mismatch(value, "a boolean", path) }
            return value
        case .integer(let lo, let hi):
            guard case .int(let n) = value else { throw mismatch(value, "an integer", path) }
            guard n >= lo, n <= hi else {
                throw SchemaError(path: path, message: "invalid value: integer `\(n)`, expected an integer in \(lo)...\(hi)")
            }
            return value
        case .enumeration(let variants):
            guard case .string(let s) = value else { throw mismatch(value, "a string", path) }
            guard variants.contains(s) else {
                let expected = variants.map { "`\($0)`" }.joined(separator: ", ")
                throw SchemaError(path: path, message: "unknown variant `\(s)`, expected one of \(expected)")
            }
            return value
        case .array(let element):
            guard case .array(let items) = value else { throw mismatch(value, "a sequence", path) }
            var result: [JSONValue] = []
            for (i, item) in items.enumerated() {
                result.append(try element.normalize(item, path: "\(path)[\(i)]"))
            }
            return .array(result)
        case .object(let objectSchema):
            return try objectSchema.normalize(value, path: path)
        }
    }

    private func mismatch(_ value: JSONValue, _ expected: String, _ path: String) -> SchemaError {
        SchemaError(path: path, message: "invalid type: \(value.typeName), expected \(expected)")
    }
}

extension ObjectSchema {
    /// Checks an object member by member; unknown members are dropped as serde drops them.
    ///
    /// - Throws: `SchemaError` for a non-object, a missing required member or a bad member.
    func normalize(_ value: JSONValue, path: String) throws(SchemaError) -> JSONValue {
        guard case .object(let members) = value else {
            throw SchemaError(path: path, message: "invalid type: \(value.typeName), expected struct \(name)")
        }
        var result: [String: JSONValue] = [:]
        for field in fields {
            let memberPath = path.isEmpty ? field.name : "\(path).\(field.name)"
            if let given = members[field.name], !given.isNull {
                result[field.name] = try field.schema.normalize(given, path: memberPath)
            } else if field.required {
                throw SchemaError(path: path, message: "missing field `\(field.name)`")
            } else if let fallback = field.defaultValue {
                result[field.name] = try field.schema.normalize(fallback, path: memberPath)
            } else {
                result[field.name] = .null
            }
        }
        return .object(result)
    }
}
