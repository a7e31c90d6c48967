import Foundation

/// A value of a Packer template after evaluation, with the place it came from.
///
/// Strings may hold Kiln template actions that are decided when Kiln runs, never at import:
/// `{{env "NAME"}}` (from Packer's `env("NAME")` or `{{env `NAME`}}`), `{{vm "key"}}` and
/// `{{.Device}}`-style variables. `deferred` says a string holds an `env` action, so it cannot
/// be compared or transformed at import time. `secret` says the text holds a value of a
/// sensitive variable or of one that sets a credential: it is never written into a manifest.
public struct PackerValue: Sendable, Hashable {
    public indirect enum Kind: Sendable, Hashable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        case list([PackerValue])
        case object([Member])
    }

    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: PackerValue
        public init(_ key: String, _ value: PackerValue) {
            self.key = key
            self.value = value
        }
    }

    public var kind: Kind
    public var location: SourceLocation
    public var deferred: Bool
    public var secret: Bool

    public init(_ kind: Kind, at location: SourceLocation, deferred: Bool = false, secret: Bool = false) {
        self.kind = kind
        self.location = location
        self.deferred = deferred
        self.secret = secret
    }

    /// The value as text, when it is a string, a number or a bool (Packer converts these freely).
    public var text: String? {
        switch kind {
        case .string(let s): s
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .bool(let b): b ? "true" : "false"
        case .null, .list, .object: nil
        }
    }

    public var isNull: Bool { if case .null = kind { true } else { false } }

    /// What kind of value this is, for error messages.
    public var typeName: String {
        switch kind {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a bool"
        case .null: "null"
        case .list: "a list"
        case .object: "an object"
        }
    }

    /// The member `key` of an object value.
    public subscript(key: String) -> PackerValue? {
        guard case .object(let members) = kind else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// A copy whose text is marked secret when `secret` is true (secrecy only ever spreads).
    /// Text read from the environment when Kiln runs is never the secret itself, only the
    /// name of where it is, so it stays unmarked.
    func tainted(_ secret: Bool) -> PackerValue {
        guard secret else { return self }
        var v = self
        switch kind {
        case .list(let items): v.kind = .list(items.map { $0.tainted(true) })
        case .object(let members): v.kind = .object(members.map { Member($0.key, $0.value.tainted(true)) })
        default: v.secret = v.secret || !v.deferred
        }
        return v
    }

    /// Whether a part of the value is a secret's own text.
    var holdsSecret: Bool {
        switch kind {
        case .list(let items): items.contains(where: \.holdsSecret)
        case .object(let members): members.contains { $0.value.holdsSecret }
        default: secret
        }
    }
}
