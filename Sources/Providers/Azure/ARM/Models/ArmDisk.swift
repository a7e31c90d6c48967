import Foundation

/// `Microsoft.Compute/disks`: the fields Kiln reads and writes. Unknown fields are ignored
/// when decoding; everything Azure may omit is optional.
public struct ArmDisk: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    /// The VM the disk is attached to (read-only).
    public var managedBy: String?
    public var sku: ArmSku?
    public var zones: [String]?
    public var properties: Properties?

    public init(
        location: String, tags: [String: String]? = nil, sku: ArmSku? = nil, zones: [String]? = nil,
        properties: Properties
    ) {
        self.location = location
        self.tags = tags
        self.sku = sku
        self.zones = zones
        self.properties = properties
    }

    /// `DiskProperties`.
    public struct Properties: Codable, Sendable, Hashable {
        public var creationData: ArmCreationData?
        public var diskSizeGB: Int?
        public var diskSizeBytes: Int64?
        public var osType: String?
        public var hyperVGeneration: String?
        public var provisioningState: String?
        /// `Unattached`, `Attached`, `Reserved`, ...
        public var diskState: String?
        public var timeCreated: String?
        public var uniqueId: String?
        public var lastOwnershipUpdateTime: String?
        public var tier: String?
        public var networkAccessPolicy: String?
        public var publicNetworkAccess: String?
        public var supportedCapabilities: ArmSupportedCapabilities?
        public var securityProfile: ArmDiskSecurityProfile?
        public var encryption: ArmDiskEncryption?

        enum CodingKeys: String, CodingKey {
            case creationData, diskSizeGB, diskSizeBytes, osType, hyperVGeneration, provisioningState, diskState
            case timeCreated, uniqueId, tier, networkAccessPolicy, publicNetworkAccess, supportedCapabilities
            case securityProfile, encryption
            // Capital L on the wire.
            case lastOwnershipUpdateTime = "LastOwnershipUpdateTime"
        }

        public init(
            creationData: ArmCreationData?, diskSizeGB: Int? = nil, osType: String? = nil,
            hyperVGeneration: String? = nil
        ) {
            self.creationData = creationData
            self.diskSizeGB = diskSizeGB
            self.osType = osType
            self.hyperVGeneration = hyperVGeneration
        }
    }
}

/// `CreationData` of a disk or snapshot.
public struct ArmCreationData: Codable, Sendable, Hashable {
    /// `Empty`, `Copy`, `FromImage`, ...
    public var createOption: String
    /// For `Copy`: a disk or snapshot id.
    public var sourceResourceId: String?
    /// For `FromImage` from a platform image version or a managed image.
    public var imageReference: ArmImageDiskReference?
    /// For `FromImage` from a gallery image version.
    public var galleryImageReference: ArmImageDiskReference?
    public var sourceUniqueId: String?

    public init(
        createOption: String, sourceResourceId: String? = nil, imageReference: ArmImageDiskReference? = nil,
        galleryImageReference: ArmImageDiskReference? = nil
    ) {
        self.createOption = createOption
        self.sourceResourceId = sourceResourceId
        self.imageReference = imageReference
        self.galleryImageReference = galleryImageReference
    }
}

/// `ImageDiskReference`: an image (version) id and, for an image data disk, its lun.
public struct ArmImageDiskReference: Codable, Sendable, Hashable {
    public var id: String?
    public var lun: Int?
    public init(id: String, lun: Int? = nil) {
        self.id = id
        self.lun = lun
    }
}

/// What the disk's source image supports (controller types, accelerated networking, architecture).
public struct ArmSupportedCapabilities: Codable, Sendable, Hashable {
    public var diskControllerTypes: String?
    public var acceleratedNetwork: Bool?
    public var architecture: String?
}

/// A disk's security type (`TrustedLaunch`, confidential VM variants).
public struct ArmDiskSecurityProfile: Codable, Sendable, Hashable {
    public var securityType: String?
}

/// How a disk is encrypted at rest.
public struct ArmDiskEncryption: Codable, Sendable, Hashable {
    public var type: String?
    public var diskEncryptionSetId: String?
}

/// `DiskUpdate` / `SnapshotUpdate` for PATCH: only what is being changed.
public struct ArmDiskUpdate: Codable, Sendable, Hashable {
    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var diskSizeGB: Int?
        public var tier: String?
        public init(diskSizeGB: Int? = nil, tier: String? = nil) {
            self.diskSizeGB = diskSizeGB
            self.tier = tier
        }
    }
    public var properties: Properties?
    /// Replaces the whole tag set.
    public var tags: [String: String]?
    public var sku: ArmSku?

    public init(properties: Properties? = nil, tags: [String: String]? = nil, sku: ArmSku? = nil) {
        self.properties = properties
        self.tags = tags
        self.sku = sku
    }
}

/// `Microsoft.Compute/snapshots`.
public struct ArmSnapshot: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var sku: ArmSku?
    public var properties: Properties?

    public init(location: String, tags: [String: String]? = nil, sku: ArmSku? = nil, properties: Properties) {
        self.location = location
        self.tags = tags
        self.sku = sku
        self.properties = properties
    }

    /// `SnapshotProperties`.
    public struct Properties: Codable, Sendable, Hashable {
        public var creationData: ArmCreationData?
        public var incremental: Bool?
        public var incrementalSnapshotFamilyId: String?
        public var diskSizeGB: Int?
        public var diskSizeBytes: Int64?
        public var osType: String?
        public var hyperVGeneration: String?
        public var provisioningState: String?
        public var diskState: String?
        public var timeCreated: String?
        public var uniqueId: String?
        public var completionPercent: Double?
        public var snapshotAccessState: String?

        public init(
            creationData: ArmCreationData, incremental: Bool? = nil, osType: String? = nil,
            hyperVGeneration: String? = nil
        ) {
            self.creationData = creationData
            self.incremental = incremental
            self.osType = osType
            self.hyperVGeneration = hyperVGeneration
        }
    }
}
