/// Where the builds' journals and locks live (`state:` in the manifest).
///
/// `local` (the default): one file per build in the state directory (`--state-dir`), locked
/// with `flock`; the builds run on this VM only. `azureBlob`: one blob per build in an Azure
/// Storage container, written only over the ETag read before (`If-Match`), and locked with a
/// blob lease, so that several builder VMs share one manifest (docs/fleet.md).
public enum StateSettings: Sendable, Hashable, Codable {
    case local
    case azureBlob(AzureBlobState)

    /// The remote location, when the state is in Azure Blob Storage.
    public var azureBlob: AzureBlobState? {
        if case .azureBlob(let blob) = self { return blob }
        return nil
    }

    private enum CodingKeys: String, CodingKey { case azureBlob }

    /// As the manifest writes it: `{azureBlob: {…}}`; anything else is the local state.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self = try c.decodeIfPresent(AzureBlobState.self, forKey: .azureBlob).map { .azureBlob($0) } ?? .local
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let azureBlob { try c.encode(azureBlob, forKey: .azureBlob) }
    }
}

/// An Azure Storage container (and a name prefix in it) holding the builds' journals.
public struct AzureBlobState: Sendable, Hashable, Codable {
    public var account: StorageAccountName
    public var container: BlobContainerName
    /// A prefix of every blob name ("" or `a/b`, no leading or trailing `/`).
    public var prefix: BlobNamePrefix

    public init(account: StorageAccountName, container: BlobContainerName, prefix: BlobNamePrefix = .none) {
        self.account = account
        self.container = container
        self.prefix = prefix
    }

    /// The journal blob of `build`: `<prefix>/<build>.journal.json`.
    public func journalBlob(build: String) -> String { prefix.naming("\(build).journal.json") }

    /// Where a person finds it: `account/container/prefix`.
    public var description: String {
        "\(account.value)/\(container.value)" + (prefix.value.isEmpty ? "" : "/\(prefix.value)")
    }
}

/// A storage account name: 3 to 24 lower-case letters and digits (Azure's rule).
public struct StorageAccountName: CheckedName, Sendable, Hashable {
    public let value: String

    public init?(_ text: String) {
        guard (3...24).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber) }) else {
            return nil
        }
        value = text
    }

    public static let rule = "3 to 24 lower-case letters and digits"
}

/// A blob container name: 3 to 63 lower-case letters, digits and single hyphens, starting and
/// ending with a letter or digit (Azure's rule).
public struct BlobContainerName: CheckedName, Sendable, Hashable {
    public let value: String

    public init?(_ text: String) {
        let allowed = text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
        guard (3...63).contains(text.count), allowed, text.first != "-", text.last != "-", !text.contains("--")
        else { return nil }
        value = text
    }

    public static let rule =
        "3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit"
}

/// A prefix of blob names: path segments of letters, digits, `.`, `_` and `-` joined by `/`.
public struct BlobNamePrefix: CheckedName, Sendable, Hashable {
    public let value: String
    public static let none = BlobNamePrefix(checked: "")

    private init(checked: String) { value = checked }

    /// Leading and trailing `/` are dropped; nil when a segment is empty, `.` or `..`, or has
    /// another character, or the whole is longer than 512 characters.
    public init?(_ text: String) {
        let trimmed = text.split(separator: "/", omittingEmptySubsequences: false)
        var segments = Array(trimmed)
        while segments.first == "" { segments.removeFirst() }
        while segments.last == "" { segments.removeLast() }
        let ok = segments.allSatisfy { s in
            !s.isEmpty && s != "." && s != ".."
                && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        }
        let joined = segments.joined(separator: "/")
        guard ok, joined.count <= 512 else { return nil }
        value = joined
    }

    /// `name` under this prefix.
    public func naming(_ name: String) -> String { value.isEmpty ? name : "\(value)/\(name)" }

    public static let rule = "path segments of letters, digits, '.', '_' and '-' joined by '/'"
}

/// A name checked against Azure's rule when made; coded as its text.
public protocol CheckedName: Codable, CustomStringConvertible {
    var value: String { get }
    init?(_ text: String)
    static var rule: String { get }
}

extension CheckedName {
    public var description: String { value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let checked = Self(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not valid: use \(Self.rule)"))
        }
        self = checked
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}
