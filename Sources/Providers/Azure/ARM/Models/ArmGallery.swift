import Foundation

/// `Microsoft.Compute/galleries`.
public struct ArmGallery: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var properties: Properties?

    public init(location: String, tags: [String: String]? = nil, description: String? = nil) {
        self.location = location
        self.tags = tags
        self.properties = Properties(description: description)
    }

    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var description: String?
        public var identifier: Identifier?
        public var provisioningState: String?
        public init(description: String? = nil) { self.description = description }
    }

    /// The `Identifier` part of the wire shape; fields Azure may omit are optional.
    public struct Identifier: Codable, Sendable, Hashable {
        public var uniqueName: String?
    }
}

/// `Microsoft.Compute/galleries/images`: an image definition.
public struct ArmGalleryImage: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var properties: Properties?

    public init(location: String, tags: [String: String]? = nil, properties: Properties) {
        self.location = location
        self.tags = tags
        self.properties = properties
    }

    /// `osType`, `osState` and `identifier` are required on PUT.
    public struct Properties: Codable, Sendable, Hashable {
        public var osType: String?
        public var osState: String?
        public var hyperVGeneration: String?
        public var architecture: String?
        public var identifier: Identifier?
        public var features: [Feature]?
        public var description: String?
        public var endOfLifeDate: String?
        public var eula: String?
        public var privacyStatementUri: String?
        public var releaseNoteUri: String?
        public var recommended: Recommended?
        public var provisioningState: String?

        public init(
            osType: String, osState: String, identifier: Identifier, hyperVGeneration: String? = nil,
            architecture: String? = nil, features: [Feature]? = nil
        ) {
            self.osType = osType
            self.osState = osState
            self.identifier = identifier
            self.hyperVGeneration = hyperVGeneration
            self.architecture = architecture
            self.features = features
        }
    }

    /// `RecommendedMachineConfiguration`: vCPUs and memory (GB) as `ResourceRange`s.
    public struct Recommended: Codable, Sendable, Hashable {
        public var vCPUs: Range?
        public var memory: Range?
        public init(vCPUs: Range?, memory: Range?) {
            self.vCPUs = vCPUs
            self.memory = memory
        }
    }

    /// `ResourceRange`.
    public struct Range: Codable, Sendable, Hashable {
        public var min: Int?
        public var max: Int?
        public init(min: Int?, max: Int?) {
            self.min = min
            self.max = max
        }
    }

    /// `GalleryImageIdentifier`.
    public struct Identifier: Codable, Sendable, Hashable {
        public var publisher: String?
        public var offer: String?
        public var sku: String?
        public init(publisher: String, offer: String, sku: String) {
            self.publisher = publisher
            self.offer = offer
            self.sku = sku
        }
    }

    /// `GalleryImageFeature`, e.g. `SecurityType` = `TrustedLaunchSupported`.
    public struct Feature: Codable, Sendable, Hashable {
        public var name: String?
        public var value: String?
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }
}

/// `Microsoft.Compute/galleries/images/versions`.
public struct ArmGalleryImageVersion: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var properties: Properties?

    public init(location: String, tags: [String: String]? = nil, properties: Properties) {
        self.location = location
        self.tags = tags
        self.properties = properties
    }

    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var publishingProfile: PublishingProfile?
        public var storageProfile: StorageProfile?
        public var safetyProfile: SafetyProfile?
        public var provisioningState: String?
        /// Present only when read with `$expand=ReplicationStatus`.
        public var replicationStatus: ReplicationStatus?

        public init(
            publishingProfile: PublishingProfile?, storageProfile: StorageProfile, safetyProfile: SafetyProfile? = nil
        ) {
            self.publishingProfile = publishingProfile
            self.storageProfile = storageProfile
            self.safetyProfile = safetyProfile
        }
    }

    /// The `PublishingProfile` part of the wire shape; fields Azure may omit are optional.
    public struct PublishingProfile: Codable, Sendable, Hashable {
        public var targetRegions: [TargetRegion]?
        public var replicaCount: Int?
        public var excludeFromLatest: Bool?
        public var publishedDate: String?
        public var endOfLifeDate: String?
        public var storageAccountType: String?
        public var replicationMode: String?

        public init(
            targetRegions: [TargetRegion]?, replicaCount: Int? = nil, excludeFromLatest: Bool? = nil,
            endOfLifeDate: String? = nil, storageAccountType: String? = nil
        ) {
            self.targetRegions = targetRegions
            self.replicaCount = replicaCount
            self.excludeFromLatest = excludeFromLatest
            self.endOfLifeDate = endOfLifeDate
            self.storageAccountType = storageAccountType
        }
    }

    /// The `TargetRegion` part of the wire shape; fields Azure may omit are optional.
    public struct TargetRegion: Codable, Sendable, Hashable {
        public var name: String
        public var regionalReplicaCount: Int?
        public var storageAccountType: String?
        public var excludeFromLatest: Bool?
        public var encryption: Encryption?

        public init(
            name: String, regionalReplicaCount: Int? = nil, storageAccountType: String? = nil,
            excludeFromLatest: Bool? = nil, encryption: Encryption? = nil
        ) {
            self.name = name
            self.regionalReplicaCount = regionalReplicaCount
            self.storageAccountType = storageAccountType
            self.excludeFromLatest = excludeFromLatest
            self.encryption = encryption
        }
    }

    /// `EncryptionImages`: the disk encryption set of the replicas' OS and data disk images in a region.
    public struct Encryption: Codable, Sendable, Hashable {
        public var osDiskImage: DiskEncryption?
        public var dataDiskImages: [DiskEncryption]?
        public init(osDiskImage: DiskEncryption?, dataDiskImages: [DiskEncryption]?) {
            self.osDiskImage = osDiskImage
            self.dataDiskImages = dataDiskImages
        }
    }

    /// `OSDiskImageEncryption` / `DataDiskImageEncryption` (with `lun`).
    public struct DiskEncryption: Codable, Sendable, Hashable {
        public var lun: Int?
        public var diskEncryptionSetId: String?
        public init(lun: Int? = nil, diskEncryptionSetId: String?) {
            self.lun = lun
            self.diskEncryptionSetId = diskEncryptionSetId
        }
    }

    /// The `StorageProfile` part of the wire shape; fields Azure may omit are optional.
    public struct StorageProfile: Codable, Sendable, Hashable {
        /// A managed image or another version as the whole source.
        public var source: ArmSubResource?
        public var osDiskImage: DiskImage?
        public var dataDiskImages: [DiskImage]?

        public init(source: ArmSubResource? = nil, osDiskImage: DiskImage? = nil, dataDiskImages: [DiskImage]? = nil) {
            self.source = source
            self.osDiskImage = osDiskImage
            self.dataDiskImages = dataDiskImages
        }
    }

    /// `GalleryDiskImage` (OS) / `GalleryDataDiskImage` (with `lun`).
    public struct DiskImage: Codable, Sendable, Hashable {
        public var lun: Int?
        /// A snapshot or managed disk id.
        public var source: ArmSubResource?
        public var hostCaching: String?
        /// Read-only.
        public var sizeInGB: Int?

        public init(lun: Int? = nil, source: ArmSubResource, hostCaching: String? = nil) {
            self.lun = lun
            self.source = source
            self.hostCaching = hostCaching
        }
    }

    /// The `SafetyProfile` part of the wire shape; fields Azure may omit are optional.
    public struct SafetyProfile: Codable, Sendable, Hashable {
        public var allowDeletionOfReplicatedLocations: Bool?
        public init(allowDeletionOfReplicatedLocations: Bool?) {
            self.allowDeletionOfReplicatedLocations = allowDeletionOfReplicatedLocations
        }
    }

    /// Replication per region: `aggregatedState` is `Unknown`, `InProgress`, `Completed` or `Failed`.
    public struct ReplicationStatus: Codable, Sendable, Hashable {
        public var aggregatedState: String?
        public var summary: [RegionalStatus]?
    }

    /// One region: `state` is `Unknown`, `Replicating`, `Completed` or `Failed`; `progress` 0-100.
    public struct RegionalStatus: Codable, Sendable, Hashable {
        public var region: String?
        public var state: String?
        public var details: String?
        public var progress: Int?
    }
}

/// PATCH body for an image version (e.g. changing target regions or end of life).
public struct ArmGalleryImageVersionUpdate: Codable, Sendable, Hashable {
    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var publishingProfile: ArmGalleryImageVersion.PublishingProfile?
        /// Required by `GalleryImageVersionUpdate` even when nothing in it changes: sent as
        /// `{}`, as Azure's own update example does (GalleryRP 2024-03-03).
        public var storageProfile = Unchanged()
        public init(publishingProfile: ArmGalleryImageVersion.PublishingProfile?) {
            self.publishingProfile = publishingProfile
        }
    }
    /// An empty object: a part of the resource the update leaves as it is.
    public struct Unchanged: Codable, Sendable, Hashable {
        public init() {}
    }
    public var properties: Properties?
    public var tags: [String: String]?
    public init(properties: Properties? = nil, tags: [String: String]? = nil) {
        self.properties = properties
        self.tags = tags
    }
}
