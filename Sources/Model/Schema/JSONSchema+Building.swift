/// The building blocks of the manifest's schema, each accepting exactly the YAML values the
/// decoder (`MappingReader`) accepts, read as an editor reads YAML 1.2: a plain `40` is a
/// number and a quoted `"40"` a string, while Kiln reads every scalar's text. So a schema may
/// accept more than `kiln validate` (semantic checks are the decoder's), never less.
extension JSONSchema {
    /// One key of a mapping. An optional key may also be null: the decoder reads `key: ~` as
    /// absent.
    public struct Property: Sendable {
        public var name: String
        public var schema: JSONSchema
        public var isRequired: Bool

        public static func required(_ name: String, _ schema: JSONSchema) -> Property {
            Property(name: name, schema: schema, isRequired: true)
        }

        public static func optional(_ name: String, _ schema: JSONSchema) -> Property {
            Property(name: name, schema: schema.nullable, isRequired: false)
        }
    }

    /// A mapping whose unknown keys are errors.
    static func object(_ description: String, _ properties: [Property]) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.object]
        s.properties = Dictionary(uniqueKeysWithValues: properties.map { ($0.name, $0.schema) })
        let required = properties.filter(\.isRequired).map(\.name)
        s.required = required.isEmpty ? nil : required
        s.closed = true
        return s
    }

    /// Any scalar, read as its text (`name: 123` is the name "123"); `pattern` checks strings.
    static func text(_ description: String, pattern: String? = nil) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.string, .number, .boolean]
        s.pattern = pattern
        return s
    }

    /// A string that no YAML number or boolean could spell validly (a path, an id, a URL).
    static func string(_ description: String, pattern: String? = nil) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.string]
        s.pattern = pattern
        return s
    }

    /// A whole number in `range`, or a string the decoder reads as one (`"40"`).
    static func integer(_ description: String, _ range: ClosedRange<Int>) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.integer, .string]
        s.minimum = range.lowerBound
        s.maximum = range.upperBound
        s.pattern = Patterns.integerText
        return s
    }

    /// `true` or `false`, also as the strings the decoder takes for them.
    static func boolean(_ description: String) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.boolean, .string]
        s.pattern = Patterns.booleanText
        return s
    }

    /// One of an enum's raw values: the canonical spellings for completion, and any case
    /// (the decoder matches case-insensitively, as Azure does).
    static func choice<E: RawRepresentable & CaseIterable>(_ description: String, _ type: E.Type) -> JSONSchema
    where E.RawValue == String {
        let values = E.allCases.map(\.rawValue)
        var canonical = JSONSchema()
        canonical.types = [.string]
        canonical.enumValues = values.map { .string($0) }
        var anyCase = JSONSchema()
        anyCase.types = [.string]
        anyCase.pattern = Patterns.anyCase(values)
        var s = JSONSchema()
        s.description = description
        s.anyOf = [canonical, anyCase]
        return s
    }

    /// A duration such as `90s`, `15m`, `2h`, `1h30m` (`Seconds`).
    static func duration(_ description: String) -> JSONSchema {
        string(description, pattern: Patterns.duration)
    }

    static func list(_ description: String, of item: JSONSchema, minItems: Int? = nil) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.array]
        s.items = Box(item)
        s.minItems = minItems
        return s
    }

    /// A mapping of names to values of `values`.
    static func map(_ description: String, values: JSONSchema, names: JSONSchema? = nil) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.types = [.object]
        s.values = Box(values)
        s.propertyNames = names.map(Box.init)
        return s
    }

    /// Accepts what any of `schemas` accepts.
    static func anyOf(_ description: String, _ schemas: [JSONSchema]) -> JSONSchema {
        var s = JSONSchema()
        s.description = description
        s.anyOf = schemas
        return s
    }

    /// The same schema, also accepting null.
    var nullable: JSONSchema {
        var s = self
        if !s.types.isEmpty {
            if !s.types.contains(.null) { s.types.append(.null) }
            if let values = s.enumValues, !values.contains(.null) { s.enumValues = values + [.null] }
        } else if let branches = s.anyOf {
            var null = JSONSchema()
            null.types = [.null]
            if !branches.contains(null) { s.anyOf = branches + [null] }
        }
        return s
    }

    func defaulting(_ value: JSONLiteral) -> JSONSchema {
        var s = self
        s.defaultValue = value
        return s
    }

    func defaulting<E: RawRepresentable>(_ value: E) -> JSONSchema where E.RawValue == String {
        defaulting(.string(value.rawValue))
    }

    /// A string spelling `value` in any letter case (a condition on an enum's value).
    static func spelled(_ value: String) -> JSONSchema {
        var s = JSONSchema()
        s.types = [.string]
        s.pattern = Patterns.anyCase([value])
        return s
    }

    /// Matches a mapping in which `key` is present and not null (what the decoder's `has` asks).
    static func present(_ key: String) -> JSONSchema {
        var null = JSONSchema()
        null.types = [.null]
        var value = JSONSchema()
        value.not = Box(null)
        var s = JSONSchema()
        s.required = [key]
        s.properties = [key: value]
        return s
    }

    /// Matches a mapping whose `key` holds `value`.
    static func having(_ key: String, _ value: JSONSchema) -> JSONSchema {
        var s = JSONSchema()
        s.required = [key]
        s.properties = [key: value]
        return s
    }

    /// `schema` with the constraints of `extra` added (`allOf`).
    func requiring(_ extra: [JSONSchema]) -> JSONSchema {
        var s = self
        s.allOf = (s.allOf ?? []) + extra
        return s
    }

    /// When a mapping matches `condition`, it must match `consequence`.
    static func when(_ condition: JSONSchema, then consequence: JSONSchema) -> JSONSchema {
        var s = JSONSchema()
        s.ifSchema = Box(condition)
        s.thenSchema = Box(consequence)
        return s
    }

    static func not(_ schema: JSONSchema) -> JSONSchema {
        var s = JSONSchema()
        s.not = Box(schema)
        return s
    }
}

/// The regular expressions of the schema (ECMA-262, as JSON Schema asks; no `.`, which
/// would stop at a newline the decoder accepts).
enum Patterns {
    /// What `Int(text.trimmingCharacters(in: .whitespaces))` reads.
    static let integerText = #"^\s*[+-]?[0-9]+\s*$"#
    /// What `Node.boolValue` reads.
    static let booleanText = "^(true|True|TRUE|false|False|FALSE)$"
    /// `Seconds(parsing:)`: h, m and s groups in that order, each of at most 7 digits.
    static let duration = #"^\s*(?=[0-9])([0-9]{1,7}h)?([0-9]{1,7}m)?([0-9]{1,7}s)?\s*$"#
    /// `ManifestDecoder.isBuildName`, also used for step names.
    static let name = "^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$"
    /// A value that holds a template, which the decoder checks after rendering.
    static let template = #"[\s\S]*\{\{[\s\S]*"#
    /// `UUID(uuidString:)`, or a template.
    static let guidOrTemplate =
        "^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|\(template))$"
    /// `ManifestDecoder.checkEnvName`.
    static let environmentName = "^[A-Za-z_][A-Za-z0-9_]*$"
    /// `checkURL`: an http or https URL (the host is the decoder's check).
    static let httpURL = "^[Hh][Tt][Tt][Pp][Ss]?:"
    /// An absolute path (the `..` check is the decoder's).
    static let absolutePath = "^/"
    /// `PlatformImageURN(parsing:)`: four parts of letters, digits, '-', '_' and '.'.
    static let platformImage = "^[A-Za-z0-9._-]+:[A-Za-z0-9._-]+:[A-Za-z0-9._-]+:[A-Za-z0-9._-]+$"
    /// `isGalleryVersion` or `auto` (the bound of each part is the decoder's check).
    static let galleryVersion = #"^(auto|[0-9]{1,10}\.[0-9]{1,10}\.[0-9]{1,10})$"#
    /// An upload's mode as text: octal digits, optionally after `0o`.
    static let octalMode = "^(0o)?[+-]?[0-7]+$"

    /// Any of `values` in any letter case.
    static func anyCase(_ values: [String]) -> String {
        "^(" + values.map(anyCase).joined(separator: "|") + ")$"
    }

    /// `value` in any letter case, without anchors (a prefix, or one alternative).
    static func anyCase(_ value: String) -> String {
        value.map { c -> String in
            let lower = c.lowercased()
            let upper = c.uppercased()
            if lower != upper { return "[\(upper)\(lower)]" }
            // Only the syntax characters are escaped: ECMA-262's unicode mode refuses other escapes.
            return #"^$\.*+?()[]{}|/"#.contains(c) ? "\\" + String(c) : String(c)
        }.joined()
    }
}
