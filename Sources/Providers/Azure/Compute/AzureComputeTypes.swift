import Foundation
import Model

/// A resource's provisioning state as Azure reports it (`properties.provisioningState`),
/// compared the way Azure compares it: case-insensitively.
public enum AzureProvisioningState: Sendable, Hashable, CustomStringConvertible {
    case succeeded
    case failed
    case canceled
    /// `Creating`, `Updating`, `Deleting`, `Migrating`, …: still being worked on.
    case inProgress(String)
    /// The resource carries no provisioning state.
    case unreported

    public init(azure text: String?) {
        guard let text else {
            self = .unreported
            return
        }
        switch text.lowercased() {
        case "succeeded": self = .succeeded
        case "failed": self = .failed
        case "canceled", "cancelled": self = .canceled
        default: self = .inProgress(text)
        }
    }

    /// Azure's text for the state (nil when it reported none).
    public var azureText: String? {
        switch self {
        case .succeeded: "Succeeded"
        case .failed: "Failed"
        case .canceled: "Canceled"
        case .inProgress(let text): text
        case .unreported: nil
        }
    }

    public var description: String { azureText ?? "unreported" }

    public var isSucceeded: Bool { self == .succeeded }
    /// Failed or canceled: the resource will not get any further by waiting.
    public var isFailed: Bool { self == .failed || self == .canceled }
    /// Neither succeeded nor failed (an unreported state included): wait for it rather than
    /// create it again.
    public var isInProgress: Bool { !isSucceeded && !isFailed }
}

/// What a managed disk is made from (`creationData`).
public enum DiskSource: Sendable, Hashable {
    case empty
    /// A copy of a managed disk or snapshot (`Copy`).
    case copy(sourceID: String)
    /// A platform image version or a managed image (`FromImage`, `imageReference`).
    case image(id: String)
    /// A gallery image version, its OS disk or its data disk at `lun` (`FromImage`,
    /// `galleryImageReference`).
    case galleryImageVersion(id: String, lun: Int?)
    /// Any other creation option, kept as Azure names it.
    case other(createOption: String)
}

/// A managed disk (`Microsoft.Compute/disks`): what Kiln writes when creating one, and
/// what it reads back. The fields after `hyperVGeneration` are Azure's, read-only.
public struct AzureDisk: Sendable, Hashable {
    public var location: String?
    public var tags: [String: String]?
    /// The storage account type (`sku.name`): `Standard_LRS`, `Premium_LRS`, …
    public var sku: String?
    public var zones: [String]?
    public var source: DiskSource?
    public var sizeGB: Int?
    public var osType: String?
    /// `V1` or `V2`, as Azure writes it.
    public var hyperVGeneration: String?
    /// `securityProfile.securityType` (`TrustedLaunch`, confidential variants); nil: standard.
    public var securityType: String?
    /// `encryption.diskEncryptionSetId`: encrypted with a customer key.
    public var diskEncryptionSetId: String?
    /// `supportedCapabilities.architecture` (`x64`, `Arm64`), which Azure takes from the source.
    public var architecture: String?

    public var id: String?
    public var name: String?
    /// The VM the disk is attached to.
    public var managedBy: String?
    /// `Unattached`, `Attached`, `Reserved`, …
    public var diskState: String?
    public var provisioningState: AzureProvisioningState = .unreported

    public init(
        location: String?, tags: [String: String]? = nil, sku: String? = nil, zones: [String]? = nil,
        source: DiskSource?,
        sizeGB: Int? = nil, osType: String? = nil, hyperVGeneration: String? = nil
    ) {
        self.location = location
        self.tags = tags
        self.sku = sku
        self.zones = zones
        self.source = source
        self.sizeGB = sizeGB
        self.osType = osType
        self.hyperVGeneration = hyperVGeneration
    }

    /// The VM the disk is attached to (or reserved by), when it is.
    public var attachedTo: String? {
        if let managedBy, !managedBy.isEmpty { return managedBy }
        if let state = diskState?.lowercased(), state == "attached" || state == "reserved" { return "a VM" }
        return nil
    }
}

/// A snapshot of a managed disk (`Microsoft.Compute/snapshots`).
public struct AzureSnapshot: Sendable, Hashable {
    public var location: String?
    public var tags: [String: String]?
    public var sku: String?
    /// The disk it copies (`Copy` of `sourceResourceId`).
    public var source: DiskSource?
    public var incremental: Bool?
    public var hyperVGeneration: String?

    public var id: String?
    public var name: String?
    public var provisioningState: AzureProvisioningState = .unreported

    public init(
        location: String?, tags: [String: String]? = nil, sku: String? = nil, source: DiskSource?,
        incremental: Bool? = nil,
        hyperVGeneration: String? = nil
    ) {
        self.location = location
        self.tags = tags
        self.sku = sku
        self.source = source
        self.incremental = incremental
        self.hyperVGeneration = hyperVGeneration
    }
}

/// A managed image (`Microsoft.Compute/images`) made from managed disks or snapshots.
public struct AzureImage: Sendable, Hashable {
    /// What one disk of an image is made from.
    public enum Source: Sendable, Hashable {
        /// A managed disk (`properties.storageProfile.*.managedDisk.id`): Kiln's way, the disk
        /// unmounted and flushed, attached or not.
        case managedDisk(id: String)
        /// A snapshot (`….snapshot.id`).
        case snapshot(id: String)
    }

    /// One disk of the image: its source, host caching and storage type.
    public struct Disk: Sendable, Hashable {
        /// Nil for the OS disk.
        public var lun: Int?
        public var source: Source?
        public var caching: String?
        public var storageAccountType: String?
        public var diskEncryptionSetId: String?

        public init(
            lun: Int? = nil, source: Source?, caching: String? = nil, storageAccountType: String? = nil,
            diskEncryptionSetId: String? = nil
        ) {
            self.lun = lun
            self.source = source
            self.caching = caching
            self.storageAccountType = storageAccountType
            self.diskEncryptionSetId = diskEncryptionSetId
        }
    }

    public var location: String?
    public var tags: [String: String]?
    /// `Linux` or `Windows`.
    public var osType: String?
    /// `Generalized` or `Specialized`.
    public var osState: String?
    public var osDisk: Disk?
    public var dataDisks: [Disk]?
    public var hyperVGeneration: String?

    public var id: String?
    public var provisioningState: AzureProvisioningState = .unreported

    public init(
        location: String?, tags: [String: String]? = nil, osType: String?, osState: String?, osDisk: Disk?,
        dataDisks: [Disk]? = nil,
        hyperVGeneration: String?
    ) {
        self.location = location
        self.tags = tags
        self.osType = osType
        self.osState = osState
        self.osDisk = osDisk
        self.dataDisks = dataDisks
        self.hyperVGeneration = hyperVGeneration
    }
}

/// An Azure Compute Gallery (`Microsoft.Compute/galleries`).
public struct AzureGallery: Sendable, Hashable {
    public var location: String?
    public var tags: [String: String]?
    public var description: String?
    public var provisioningState: AzureProvisioningState = .unreported

    public init(location: String?, tags: [String: String]? = nil, description: String? = nil) {
        self.location = location
        self.tags = tags
        self.description = description
    }
}

/// A gallery image definition (`Microsoft.Compute/galleries/images`), with every property
/// Kiln reads, so that one read can be written back as it is.
public struct AzureGalleryImage: Sendable, Hashable {
    /// `GalleryImageIdentifier`.
    public struct Identifier: Sendable, Hashable {
        public var publisher: String?
        public var offer: String?
        public var sku: String?
        public init(publisher: String?, offer: String?, sku: String?) {
            self.publisher = publisher
            self.offer = offer
            self.sku = sku
        }
    }

    /// `GalleryImageFeature`, e.g. `SecurityType` = `TrustedLaunchSupported`.
    public struct Feature: Sendable, Hashable {
        public var name: String?
        public var value: String?
        public init(name: String?, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public var location: String?
    public var tags: [String: String]?
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
    /// Recommended vCPUs and memory (GB), each a min/max range.
    public var recommendedVCPUs: RecommendedRange?
    public var recommendedMemoryGB: RecommendedRange?
    public var provisioningState: AzureProvisioningState = .unreported

    /// The value of feature `name` (case-insensitive), e.g. `SecurityType`.
    public func feature(_ name: String) -> String? {
        features?.first { $0.name?.lowercased() == name.lowercased() }?.value
    }

    public init(
        location: String?, tags: [String: String]? = nil, osType: String?, osState: String?, identifier: Identifier?,
        hyperVGeneration: String? = nil, architecture: String? = nil, features: [Feature]? = nil,
        description: String? = nil, endOfLifeDate: String? = nil
    ) {
        self.location = location
        self.tags = tags
        self.osType = osType
        self.osState = osState
        self.identifier = identifier
        self.hyperVGeneration = hyperVGeneration
        self.architecture = architecture
        self.features = features
        self.description = description
        self.endOfLifeDate = endOfLifeDate
    }
}

/// Where and how a gallery image version is published.
public struct PublishingProfile: Sendable, Hashable {
    /// One target region: its replica count, storage type, whether it is left out of
    /// `latest`, and the disk encryption set of its replicas (Azure's defaults when nil).
    public struct Region: Sendable, Hashable {
        public var name: String
        public var replicas: Int?
        public var storageAccountType: String?
        public var excludeFromLatest: Bool?
        /// Encrypts the replicas' OS disk image and the data disk images at `dataDiskLUNs`.
        public var diskEncryptionSetId: String?
        public var dataDiskLUNs: [Int]
        public init(
            name: String, replicas: Int? = nil, storageAccountType: String? = nil, excludeFromLatest: Bool? = nil,
            diskEncryptionSetId: String? = nil, dataDiskLUNs: [Int] = []
        ) {
            self.name = name
            self.replicas = replicas
            self.storageAccountType = storageAccountType
            self.excludeFromLatest = excludeFromLatest
            self.diskEncryptionSetId = diskEncryptionSetId
            self.dataDiskLUNs = dataDiskLUNs
        }
    }

    /// Nil: Azure's default, the gallery's own region.
    public var targetRegions: [Region]?
    public var excludeFromLatest: Bool?
    public var endOfLifeDate: String?
    /// `Full` or `Shallow`; nil: Azure's default (`Full`).
    public var replicationMode: String?

    public init(
        targetRegions: [Region]?, excludeFromLatest: Bool? = nil, endOfLifeDate: String? = nil,
        replicationMode: String? = nil
    ) {
        self.targetRegions = targetRegions
        self.excludeFromLatest = excludeFromLatest
        self.endOfLifeDate = endOfLifeDate
        self.replicationMode = replicationMode
    }
}

/// A region's replication state of a gallery image version.
public enum ReplicationState: Sendable, Hashable, CustomStringConvertible {
    case completed
    case replicating
    case failed
    case unknown
    /// Any other state, as Azure names it.
    case other(String)

    public init(azure text: String?) {
        switch text?.lowercased() {
        case "completed": self = .completed
        case "replicating": self = .replicating
        case "failed": self = .failed
        case "unknown", nil: self = .unknown
        default: self = .other(text ?? "")
        }
    }

    public var description: String {
        switch self {
        case .completed: "Completed"
        case .replicating: "Replicating"
        case .failed: "Failed"
        case .unknown: "Unknown"
        case .other(let text): text
        }
    }
}

/// A gallery image version (`Microsoft.Compute/galleries/images/versions`).
public struct AzureGalleryImageVersion: Sendable, Hashable {
    /// One disk of the version: its source (a snapshot or managed disk) and host caching.
    public struct Disk: Sendable, Hashable {
        /// Nil for the OS disk.
        public var lun: Int?
        public var sourceID: String?
        public var hostCaching: String?
        public init(lun: Int? = nil, sourceID: String?, hostCaching: String? = nil) {
            self.lun = lun
            self.sourceID = sourceID
            self.hostCaching = hostCaching
        }
    }

    /// Replication to one region.
    public struct RegionalReplication: Sendable, Hashable {
        public var region: String?
        /// Nil when Azure gave none.
        public var state: ReplicationState?
        public var details: String?
        /// 0-100.
        public var progress: Int?
        public init(region: String?, state: ReplicationState?, details: String? = nil, progress: Int? = nil) {
            self.region = region
            self.state = state
            self.details = details
            self.progress = progress
        }
    }

    /// Replication per region, present only when asked for.
    public struct Replication: Sendable, Hashable {
        /// `Unknown`, `InProgress`, `Completed` or `Failed`, as Azure names it.
        public var aggregatedState: String?
        public var regions: [RegionalReplication]?
        public init(aggregatedState: String?, regions: [RegionalReplication]?) {
            self.aggregatedState = aggregatedState
            self.regions = regions
        }
    }

    public var location: String?
    public var tags: [String: String]?
    public var publishingProfile: PublishingProfile?
    public var osDisk: Disk?
    public var dataDisks: [Disk]?

    public var id: String?
    public var provisioningState: AzureProvisioningState = .unreported
    public var replication: Replication?

    public init(
        location: String?, tags: [String: String]? = nil, publishingProfile: PublishingProfile?, osDisk: Disk?,
        dataDisks: [Disk]? = nil
    ) {
        self.location = location
        self.tags = tags
        self.publishingProfile = publishingProfile
        self.osDisk = osDisk
        self.dataDisks = dataDisks
    }
}

/// A data disk of a virtual machine.
public struct VMDataDisk: Sendable, Hashable {
    public var lun: Int
    /// The managed disk's id, as Azure wrote it.
    public var diskID: String?
    /// Marked for a detach that has not finished.
    public var toBeDetached: Bool

    public init(lun: Int, diskID: String?, toBeDetached: Bool = false) {
        self.lun = lun
        self.diskID = diskID
        self.toBeDetached = toBeDetached
    }

    /// Whether this is the managed disk `id` (ids compare case-insensitively).
    public func isDisk(_ id: ResourceID) -> Bool {
        diskID.flatMap { try? ResourceID(parsing: $0) } == id
    }
}

/// A resource of a resource group as a listing names it: id, type and tags.
public struct AzureTaggedResource: Sendable, Hashable {
    public var id: String?
    /// `Microsoft.Compute/disks`, …
    public var type: String?
    public var tags: [String: String]?

    public init(id: String?, type: String?, tags: [String: String]?) {
        self.id = id
        self.type = type
        self.tags = tags
    }

    /// The value of one of Kiln's tags; Azure treats tag names case-insensitively.
    public func tag(_ tag: KilnTag) -> String? {
        if let exact = tags?[tag] { return exact }
        return tags?.first { $0.key.lowercased() == tag.name.lowercased() }?.value
    }
}

/// A platform image version's traits (`VirtualMachineImage`): what a disk made from it is.
public struct AzurePlatformImage: Sendable, Hashable {
    public var hyperVGeneration: String?
    /// `x64` or `Arm64`.
    public var architecture: String?
    /// `features` by name, e.g. `SecurityType` = `TrustedLaunchSupported`.
    public var features: [String: String]
    /// The OS disk's size (`osDiskImage.sizeInGb`, which real answers carry).
    public var osDiskSizeGB: Int?

    public init(
        hyperVGeneration: String?, architecture: String? = nil, features: [String: String] = [:],
        osDiskSizeGB: Int? = nil
    ) {
        self.hyperVGeneration = hyperVGeneration
        self.architecture = architecture
        self.features = features
        self.osDiskSizeGB = osDiskSizeGB
    }

    /// The value of feature `name` (case-insensitive).
    public func feature(_ name: String) -> String? {
        features.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}
