/// A value whose JSON form is its text: encoded as `description`, decoded through
/// `init(parsing:)`, a text that does not parse being a decoding error that says what was
/// expected (`textCodingName`). One coding for every such type (a duration, an action id, a
/// date-time), so each declares only how it reads and writes itself.
public protocol TextCodable: Codable, CustomStringConvertible {
    init?(parsing text: String)
    /// What a text must be, for the error: "a duration", "an action id".
    static var textCodingName: String { get }
}

extension TextCodable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not \(Self.textCodingName): \(text)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
