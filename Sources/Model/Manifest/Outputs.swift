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
    /// The disk encryption set (resource id) of the image's disks.
    public var diskEncryptionSetId: String?
    public init(id: String, diskEncryptionSetId: String? = nil) {
        self.id = id
        self.diskEncryptionSetId = diskEncryptionSetId
    }
}

public struct GalleryOutput: Sendable, Hashable, Codable {
    /// nil: the subscription Kiln works in.
    public var subscription: String?
    public var resourceGroup: String
    public var gallery: String
    public var imageDefinition: String
    /// `MAJOR.MINOR.PATCH`, or `auto`.
    public var version: GalleryVersionSpec
    public var targetRegions: [TargetRegion]
    public var excludeFromLatest: Bool
    /// `YYYY-MM-DD` or an RFC 3339 time.
    public var endOfLifeDate: AzureDateTime?
    public var replicationMode: ReplicationMode
    /// The image definition's settings (identifier, descriptions, recommendations, features).
    public var definition: GalleryDefinitionSettings

    public init(
        subscription: String? = nil, resourceGroup: String, gallery: String, imageDefinition: String,
        version: GalleryVersionSpec, targetRegions: [TargetRegion] = [], excludeFromLatest: Bool = false,
        endOfLifeDate: AzureDateTime? = nil, replicationMode: ReplicationMode = .full,
        definition: GalleryDefinitionSettings = GalleryDefinitionSettings()
    ) {
        self.subscription = subscription
        self.resourceGroup = resourceGroup
        self.gallery = gallery
        self.imageDefinition = imageDefinition
        self.version = version
        self.targetRegions = targetRegions
        self.excludeFromLatest = excludeFromLatest
        self.endOfLifeDate = endOfLifeDate
        self.replicationMode = replicationMode
        self.definition = definition
    }
}

public struct TargetRegion: Sendable, Hashable, Codable {
    /// A region name such as `eastus`; `{{vm "location"}}` is the builder VM's.
    public var name: String
    public var replicas: Int
    public var storageAccountType: ReplicaStorageType
    /// nil: the version's `excludeFromLatest`.
    public var excludeFromLatest: Bool?
    /// The disk encryption set (resource id in that region) of the replicas there.
    public var diskEncryptionSetId: String?
    public init(
        name: String, replicas: Int = 1, storageAccountType: ReplicaStorageType = .standardLRS,
        excludeFromLatest: Bool? = nil, diskEncryptionSetId: String? = nil
    ) {
        self.name = name
        self.replicas = replicas
        self.storageAccountType = storageAccountType
        self.excludeFromLatest = excludeFromLatest
        self.diskEncryptionSetId = diskEncryptionSetId
    }
}
