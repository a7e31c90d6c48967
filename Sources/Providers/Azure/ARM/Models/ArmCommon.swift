import Foundation

/// `{ "id": "..." }`, how ARM bodies point at another resource.
public struct ArmSubResource: Codable, Sendable, Hashable {
    public var id: String?
    public init(id: String?) { self.id = id }
}

/// A resource's `sku`.
public struct ArmSku: Codable, Sendable, Hashable {
    public var name: String?
    /// Read-only for disks.
    public var tier: String?
    public init(name: String?, tier: String? = nil) {
        self.name = name
        self.tier = tier
    }
}

/// ARM's paged list: `{"value":[...],"nextLink":...}`.
public struct ArmList<Element: Decodable & Sendable>: Decodable, Sendable {
    public var value: [Element]
    public var nextLink: String?

    enum CodingKeys: String, CodingKey { case value, nextLink }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        value = try c.decodeIfPresent([Element].self, forKey: .value) ?? []
        nextLink = try c.decodeIfPresent(String.self, forKey: .nextLink)
    }
}

/// One entry of a resource group's resource list (`GET .../resources?$filter=...`).
public struct ArmGenericResource: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var managedBy: String?
}
