/// What a build publishes.
public struct Outputs: Sendable, Hashable, Codable {
    public var image: ImageOutput?
    public var gallery: GalleryOutput?
    /// Provision only; publish nothing (Packer's `skip_create_image`).
    public var skip: Bool

    public init(image: ImageOutput? = nil, gallery: GalleryOutput? = nil, skip: Bool = false) {
        self.image = image
        self.gallery = gallery
        self.skip = skip
    }
}

public struct ImageOutput: Sendable, Hashable, Codable {
    /// The managed image's resource id (templates allowed: `{{vm "subscription_id"}}`).
    public var id: String
    public init(id: String) { self.id = id }
}

public struct GalleryOutput: Sendable, Hashable, Codable {
    /// nil: the subscription Kiln works in.
    public var subscription: String?
    public var resourceGroup: String
    public var gallery: String
    public var imageDefinition: String
    /// `MAJOR.MINOR.PATCH`.
    public var version: String
    public var targetRegions: [TargetRegion]
    public var excludeFromLatest: Bool
    /// `YYYY-MM-DD` or an RFC 3339 time.
    public var endOfLifeDate: AzureDateTime?

    public init(
        subscription: String? = nil, resourceGroup: String, gallery: String, imageDefinition: String, version: String,
        targetRegions: [TargetRegion] = [], excludeFromLatest: Bool = false, endOfLifeDate: AzureDateTime? = nil
    ) {
        self.subscription = subscription
        self.resourceGroup = resourceGroup
        self.gallery = gallery
        self.imageDefinition = imageDefinition
        self.version = version
        self.targetRegions = targetRegions
        self.excludeFromLatest = excludeFromLatest
        self.endOfLifeDate = endOfLifeDate
    }
}

public struct TargetRegion: Sendable, Hashable, Codable {
    /// A region name such as `eastus`; `{{vm "location"}}` is the builder VM's.
    public var name: String
    public var replicas: Int
    public var storageAccountType: ReplicaStorageType
    public init(name: String, replicas: Int = 1, storageAccountType: ReplicaStorageType = .standardLRS) {
        self.name = name
        self.replicas = replicas
        self.storageAccountType = storageAccountType
    }
}
