/// A JSON Schema (draft 2020-12) node, with only the keywords the manifest's schema uses.
///
/// Built in Swift (`ManifestSchema`) from the model's own enums, so `kiln schema` cannot drift
/// from what `kiln validate` accepts; encoded with `JSONEncoder` (`kiln schema` sorts the keys).
public struct JSONSchema: Sendable, Equatable {
    /// JSON's value types, as the `type` keyword names them.
    public enum Kind: String, Sendable, Equatable, Encodable {
        case object, array, string, integer, number, boolean, null
    }

    public var title: String?
    public var description: String?
    public var types: [Kind] = []
    public var defaultValue: JSONLiteral?
    public var enumValues: [JSONLiteral]?
    public var const: JSONLiteral?
    /// Applies to strings only: a number or boolean passes it (JSON Schema's rule).
    public var pattern: String?
    /// Apply to numbers only.
    public var minimum: Int?
    public var maximum: Int?
    public var minItems: Int?
    public var maxItems: Int?
    public var maxProperties: Int?
    public var properties: [String: JSONSchema]?
    public var required: [String]?
    /// `false` where the decoder reports unknown keys.
    public var closed = false
    /// The schema of every value of a map (`additionalProperties` as a schema).
    public var values: Box?
    public var propertyNames: Box?
    public var items: Box?
    public var prefixItems: [JSONSchema]?
    public var oneOf: [JSONSchema]?
    public var anyOf: [JSONSchema]?
    public var allOf: [JSONSchema]?
    public var not: Box?
    public var ifSchema: Box?
    public var thenSchema: Box?
    public var defs: [String: JSONSchema]?
    public var ref: String?
    /// Only on the root: the dialect and the schema's id.
    public var dialect: String?
    public var id: String?

    public init() {}

    /// The dialect URI of draft 2020-12, the `$schema` of the root.
    public static let draft202012 = "https://json-schema.org/draft/2020-12/schema"

    /// One subschema held by another (a struct cannot hold itself directly).
    public final class Box: Sendable, Equatable {
        public let schema: JSONSchema
        public init(_ schema: JSONSchema) { self.schema = schema }
        public static func == (a: Box, b: Box) -> Bool { a.schema == b.schema }
    }
}

/// A JSON value written into a schema: a default, an enum member or a constant.
public enum JSONLiteral: Sendable, Equatable, Encodable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case null
    case array([JSONLiteral])
    case object([String: JSONLiteral])

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .integer(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let items): try c.encode(items)
        case .object(let members): try c.encode(members)
        }
    }
}

extension JSONSchema: Encodable {
    private enum Keys: String, CodingKey {
        case dialect = "$schema"
        case id = "$id"
        case defs = "$defs"
        case ref = "$ref"
        case title, description, type
        case enumValues = "enum"
        case const, pattern, minimum, maximum
        case minItems, maxItems, maxProperties, properties, required, additionalProperties, propertyNames
        case items, prefixItems, oneOf, anyOf, allOf, not
        case ifSchema = "if"
        case thenSchema = "then"
        case defaultValue = "default"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(dialect, forKey: .dialect)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(defs, forKey: .defs)
        try c.encodeIfPresent(ref, forKey: .ref)
        try c.encodeIfPresent(title, forKey: .title)
        try c.encodeIfPresent(description, forKey: .description)
        if types.count == 1 {
            try c.encode(types[0], forKey: .type)
        } else if !types.isEmpty {
            try c.encode(types, forKey: .type)
        }
        try c.encodeIfPresent(defaultValue, forKey: .defaultValue)
        try c.encodeIfPresent(enumValues, forKey: .enumValues)
        try c.encodeIfPresent(const, forKey: .const)
        try c.encodeIfPresent(pattern, forKey: .pattern)
        try c.encodeIfPresent(minimum, forKey: .minimum)
        try c.encodeIfPresent(maximum, forKey: .maximum)
        try c.encodeIfPresent(minItems, forKey: .minItems)
        try c.encodeIfPresent(maxItems, forKey: .maxItems)
        try c.encodeIfPresent(maxProperties, forKey: .maxProperties)
        try c.encodeIfPresent(properties, forKey: .properties)
        try c.encodeIfPresent(required, forKey: .required)
        if let values {
            try c.encode(values.schema, forKey: .additionalProperties)
        } else if closed {
            try c.encode(false, forKey: .additionalProperties)
        }
        try c.encodeIfPresent(propertyNames?.schema, forKey: .propertyNames)
        try c.encodeIfPresent(items?.schema, forKey: .items)
        try c.encodeIfPresent(prefixItems, forKey: .prefixItems)
        try c.encodeIfPresent(oneOf, forKey: .oneOf)
        try c.encodeIfPresent(anyOf, forKey: .anyOf)
        try c.encodeIfPresent(allOf, forKey: .allOf)
        try c.encodeIfPresent(not?.schema, forKey: .not)
        try c.encodeIfPresent(ifSchema?.schema, forKey: .ifSchema)
        try c.encodeIfPresent(thenSchema?.schema, forKey: .thenSchema)
    }
}
