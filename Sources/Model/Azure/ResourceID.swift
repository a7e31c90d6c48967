/// An Azure Resource Manager resource id:
/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{childType}/{childName}...]`.
///
/// ARM treats segment keys, types and names case-insensitively, so equality and hashing
/// ignore case while `description` keeps the spelling the id was written with.
public struct ResourceID: Sendable, CustomStringConvertible {
    public let subscription: String
    public let resourceGroup: String
    /// The resource provider namespace, e.g. `Microsoft.Compute`.
    public let provider: String
    /// Type/name pairs below the provider, outermost first: `[("galleries","g"),("images","i")]`.
    public let segments: [(type: String, name: String)]

    public init(subscription: String, resourceGroup: String, provider: String, segments: [(type: String, name: String)])
    {
        self.subscription = subscription
        self.resourceGroup = resourceGroup
        self.provider = provider
        self.segments = segments
    }

    /// The resource's own name (the last segment's name).
    public var name: String { segments.last?.name ?? "" }

    /// The full type, e.g. `Microsoft.Compute/galleries/images/versions`.
    public var fullType: String { ([provider] + segments.map(\.type)).joined(separator: "/") }

    /// True when the type is `provider/types…`, compared case-insensitively.
    public func isType(_ fullType: String) -> Bool { self.fullType.lowercased() == fullType.lowercased() }

    /// The id of the parent resource (one type/name pair fewer), or nil at the top level.
    public var parent: ResourceID? {
        guard segments.count > 1 else { return nil }
        return ResourceID(
            subscription: subscription, resourceGroup: resourceGroup, provider: provider,
            segments: Array(segments.dropLast()))
    }

    /// The id of the child resource `type`/`name` below this one.
    public func child(_ type: String, _ name: String) -> ResourceID {
        ResourceID(
            subscription: subscription, resourceGroup: resourceGroup, provider: provider,
            segments: segments + [(type, name)])
    }

    public var description: String {
        var path = "/subscriptions/\(subscription)/resourceGroups/\(resourceGroup)/providers/\(provider)"
        for s in segments { path += "/\(s.type)/\(s.name)" }
        return path
    }
}

extension ResourceID: Hashable {
    public static func == (a: ResourceID, b: ResourceID) -> Bool {
        a.description.lowercased() == b.description.lowercased()
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(description.lowercased()) }
}

extension ResourceID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try ResourceID(parsing: text)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Why a string is not a resource id; the message says what shape was expected.
public struct ResourceIDError: Error, Sendable, Equatable, CustomStringConvertible {
    public let input: String
    public let reason: String
    public var message: String { "'\(input)' is not an Azure resource id (\(reason))" }
    public var fix: String { "write /subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}" }
    public var description: String { "\(message) — \(fix)" }
}

extension ResourceID {
    /// Parses an id. Leading and trailing slashes are tolerated (some ARM responses omit the
    /// leading one); segment keys are matched case-insensitively.
    public init(parsing text: String) throws(ResourceIDError) {
        func fail(_ reason: String) -> ResourceIDError { ResourceIDError(input: text, reason: reason) }
        let trimmed = text.trimmingSlashes()
        guard !trimmed.isEmpty else { throw fail("it is empty") }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.contains(where: \.isEmpty) { throw fail("it has an empty segment") }
        if parts.contains(where: { $0.contains(where: { $0.isWhitespace || $0.isNewline }) }) {
            throw fail("it contains whitespace")
        }
        guard parts.count >= 7 else { throw fail("it is too short") }
        guard parts.count % 2 == 0 else { throw fail("a type has no name") }
        guard parts[0].lowercased() == "subscriptions" else { throw fail("it must start with /subscriptions/") }
        guard parts[2].lowercased() == "resourcegroups" else { throw fail("the second key must be resourceGroups") }
        guard parts[4].lowercased() == "providers" else { throw fail("the third key must be providers") }
        var segments: [(type: String, name: String)] = []
        var i = 6
        while i + 1 < parts.count {
            segments.append((parts[i], parts[i + 1]))
            i += 2
        }
        guard !segments.isEmpty else { throw fail("it names no resource") }
        self.init(subscription: parts[1], resourceGroup: parts[3], provider: parts[5], segments: segments)
    }
}

extension String {
    func trimmingSlashes() -> String {
        var s = Substring(self)
        while s.first == "/" { s = s.dropFirst() }
        while s.last == "/" { s = s.dropLast() }
        return String(s)
    }
}
