import Foundation
import Model

/// `AzureCompute` over Azure Resource Manager: each call is the `ArmClient` request it
/// always was (same method, URL, body and operation name), with the wire types mapped to
/// the domain types at this boundary.
public struct ArmCompute: AzureCompute {
    public let arm: ArmClient

    public init(_ arm: ArmClient) {
        self.arm = arm
    }

    public func disk(_ id: ResourceID) async throws -> AzureDisk? {
        try await arm.getDisk(id).map(AzureDisk.init(arm:))
    }

    public func beginCreateDisk(_ id: ResourceID, _ disk: AzureDisk) async throws -> any AzureOperation {
        try await arm.beginCreateDisk(id, disk.armBody)
    }

    public func beginDeleteDisk(_ id: ResourceID) async throws -> any AzureOperation {
        try await arm.beginDeleteDisk(id)
    }

    public func snapshot(_ id: ResourceID) async throws -> AzureSnapshot? {
        try await arm.getSnapshot(id).map(AzureSnapshot.init(arm:))
    }

    public func beginCreateSnapshot(_ id: ResourceID, _ snapshot: AzureSnapshot) async throws -> any AzureOperation {
        try await arm.beginCreateSnapshot(id, snapshot.armBody)
    }

    public func beginDeleteSnapshot(_ id: ResourceID) async throws -> any AzureOperation {
        try await arm.beginDeleteSnapshot(id)
    }

    public func image(_ id: ResourceID) async throws -> AzureImage? {
        try await arm.getImage(id).map(AzureImage.init(arm:))
    }

    public func beginCreateImage(_ id: ResourceID, _ image: AzureImage) async throws -> any AzureOperation {
        try await arm.beginCreateImage(id, image.armBody)
    }

    public func beginDeleteImage(_ id: ResourceID) async throws -> any AzureOperation {
        try await arm.beginDeleteImage(id)
    }

    public func gallery(_ id: ResourceID) async throws -> AzureGallery? {
        try await arm.getGallery(id).map(AzureGallery.init(arm:))
    }

    public func beginCreateGallery(_ id: ResourceID, _ gallery: AzureGallery) async throws -> any AzureOperation {
        try await arm.beginCreateGallery(
            id, ArmGallery(location: gallery.location ?? "", tags: gallery.tags, description: gallery.description))
    }

    public func galleryImage(_ id: ResourceID) async throws -> AzureGalleryImage? {
        try await arm.getGalleryImage(id).map(AzureGalleryImage.init(arm:))
    }

    public func beginCreateGalleryImage(
        _ id: ResourceID, _ definition: AzureGalleryImage
    ) async throws -> any AzureOperation {
        try await arm.beginCreateGalleryImage(id, definition.armBody)
    }

    public func galleryImageVersion(_ id: ResourceID, replicationStatus: Bool) async throws -> AzureGalleryImageVersion?
    {
        try await arm.getGalleryImageVersion(id, replicationStatus: replicationStatus).map(
            AzureGalleryImageVersion.init(arm:))
    }

    public func galleryImageVersions(of definition: ResourceID) async throws -> [AzureGalleryImageVersion] {
        do {
            return try await arm.listGalleryImageVersions(definition).map(AzureGalleryImageVersion.init(arm:))
        } catch let error as ArmError where error.status == 404 {
            return []
        }
    }

    public func beginCreateGalleryImageVersion(
        _ id: ResourceID, _ version: AzureGalleryImageVersion
    ) async throws -> any AzureOperation {
        try await arm.beginCreateGalleryImageVersion(id, version.armBody)
    }

    public func beginUpdatePublishingProfile(
        _ id: ResourceID, _ profile: PublishingProfile
    ) async throws -> any AzureOperation {
        try await arm.beginPatch(
            id, body: PublishingProfilePatch(profile: profile.armBody), operation: "update gallery image version")
    }

    public func beginDeleteGalleryImageVersion(_ id: ResourceID) async throws -> any AzureOperation {
        try await arm.beginDeleteGalleryImageVersion(id)
    }

    public func dataDisks(of vm: ResourceID) async throws -> [VMDataDisk]? {
        guard let machine = try await arm.getVirtualMachine(vm) else { return nil }
        return (machine.properties?.storageProfile?.dataDisks ?? []).map {
            VMDataDisk(lun: $0.lun, diskID: $0.managedDisk?.id, toBeDetached: $0.toBeDetached == true)
        }
    }

    public func updateDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        ensureNotInUse: @escaping @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void
    ) async throws -> [Int?] {
        try await arm.updateDataDisks(
            changes, on: vm, maxDataDisks: maxDataDisks, lock: lock, timeout: timeout,
            ensureNotInUse: ensureNotInUse, onStarted: onStarted)
    }

    public func resolvePlatformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> PlatformImageURN {
        try await arm.resolvePlatformImage(subscription: subscription, location: location, urn: urn)
    }

    public func platformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> AzurePlatformImage? {
        guard let p = try await arm.getPlatformImageVersion(subscription: subscription, location: location, urn: urn)
        else { return nil }
        var features: [String: String] = [:]
        for f in p.properties?.features ?? [] {
            if let name = f.name, let value = f.value { features[name] = value }
        }
        return AzurePlatformImage(
            hyperVGeneration: p.properties?.hyperVGeneration, architecture: p.properties?.architecture,
            features: features, osDiskSizeGB: p.properties?.osDiskImage?.sizeInGb)
    }

    public func resources(subscription: String, resourceGroup: String) async throws -> [AzureTaggedResource] {
        try await arm.listResources(subscription: subscription, resourceGroup: resourceGroup).map {
            AzureTaggedResource(id: $0.id, type: $0.type, tags: $0.tags)
        }
    }

    public func operation(resuming handle: OperationHandle) -> any AzureOperation {
        arm.operation(resuming: handle)
    }

    public func resourceURL(_ id: ResourceID) -> URL {
        arm.url(for: id)
    }
}

extension AzureImage.Source {
    init?(managedDisk: ArmSubResource?, snapshot: ArmSubResource?) {
        if let id = managedDisk?.id {
            self = .managedDisk(id: id)
        } else if let id = snapshot?.id {
            self = .snapshot(id: id)
        } else {
            return nil
        }
    }

    var managedDiskReference: ArmSubResource? {
        if case .managedDisk(let id) = self { return ArmSubResource(id: id) }
        return nil
    }

    var snapshotReference: ArmSubResource? {
        if case .snapshot(let id) = self { return ArmSubResource(id: id) }
        return nil
    }
}

extension LongRunningOperation: AzureOperation {
    public func waitUntilDone(timeout: Duration, progress: (@Sendable (Double) -> Void)?) async throws {
        _ = try await wait(timeout: timeout, result: false, progress: progress)
    }
}

extension AzureConnection {
    /// The connection's ARM client as an `AzureCompute`.
    public var compute: ArmCompute { ArmCompute(arm) }
}

/// The PATCH body of a publishing-profile update: the profile, with `endOfLifeDate: null`
/// when it sets none, so that a date added behind Kiln's back is removed (an ARM PATCH is a
/// JSON merge patch: an absent field is left alone), and `storageProfile: {}`, which
/// `GalleryImageVersionUpdate` requires (azure-rest-api-specs GalleryRP 2024-03-03; Azure's
/// own `GalleryImageVersion_Update` example sends it empty).
struct PublishingProfilePatch: Encodable {
    let profile: ArmGalleryImageVersion.PublishingProfile

    private enum Keys: String, CodingKey {
        case properties, publishingProfile, targetRegions, excludeFromLatest, endOfLifeDate, storageProfile
    }

    func encode(to encoder: any Encoder) throws {
        var root = encoder.container(keyedBy: Keys.self)
        var properties = root.nestedContainer(keyedBy: Keys.self, forKey: .properties)
        var p = properties.nestedContainer(keyedBy: Keys.self, forKey: .publishingProfile)
        try p.encodeIfPresent(profile.targetRegions, forKey: .targetRegions)
        try p.encodeIfPresent(profile.excludeFromLatest, forKey: .excludeFromLatest)
        // Optional's encoding writes null for nil.
        try p.encode(profile.endOfLifeDate, forKey: .endOfLifeDate)
        try properties.encode(ArmGalleryImageVersionUpdate.Unchanged(), forKey: .storageProfile)
    }
}

// MARK: - Wire mapping

extension DiskSource {
    init(arm c: ArmCreationData) {
        switch c.createOption.lowercased() {
        case "empty": self = .empty
        case "copy": self = .copy(sourceID: c.sourceResourceId ?? "")
        case "fromimage":
            if let gallery = c.galleryImageReference {
                self = .galleryImageVersion(id: gallery.id ?? "", lun: gallery.lun)
            } else {
                self = .image(id: c.imageReference?.id ?? "")
            }
        default: self = .other(createOption: c.createOption)
        }
    }

    var armBody: ArmCreationData {
        switch self {
        case .empty: ArmCreationData(createOption: "Empty")
        case .copy(let id): ArmCreationData(createOption: "Copy", sourceResourceId: id)
        case .image(let id): ArmCreationData(createOption: "FromImage", imageReference: ArmImageDiskReference(id: id))
        case .galleryImageVersion(let id, let lun):
            ArmCreationData(createOption: "FromImage", galleryImageReference: ArmImageDiskReference(id: id, lun: lun))
        case .other(let option): ArmCreationData(createOption: option)
        }
    }
}

extension AzureDisk {
    init(arm d: ArmDisk) {
        let p = d.properties
        self.init(
            location: d.location, tags: d.tags, sku: d.sku?.name, zones: d.zones,
            source: p?.creationData.map(DiskSource.init(arm:)),
            sizeGB: p?.diskSizeGB, osType: p?.osType, hyperVGeneration: p?.hyperVGeneration)
        id = d.id
        name = d.name
        managedBy = d.managedBy
        diskState = p?.diskState
        securityType = p?.securityProfile?.securityType
        diskEncryptionSetId = p?.encryption?.diskEncryptionSetId
        architecture = p?.supportedCapabilities?.architecture
        provisioningState = AzureProvisioningState(azure: p?.provisioningState)
    }

    var armBody: ArmDisk {
        var properties = ArmDisk.Properties(
            creationData: source?.armBody, diskSizeGB: sizeGB, osType: osType, hyperVGeneration: hyperVGeneration)
        properties.securityProfile = securityType.map { ArmDiskSecurityProfile(securityType: $0) }
        properties.encryption = diskEncryptionSetId.map {
            ArmDiskEncryption(type: "EncryptionAtRestWithCustomerKey", diskEncryptionSetId: $0)
        }
        return ArmDisk(
            location: location ?? "", tags: tags, sku: sku.map { ArmSku(name: $0) }, zones: zones,
            properties: properties)
    }
}

extension AzureSnapshot {
    init(arm s: ArmSnapshot) {
        let p = s.properties
        self.init(
            location: s.location, tags: s.tags, sku: s.sku?.name, source: p?.creationData.map(DiskSource.init(arm:)),
            incremental: p?.incremental, hyperVGeneration: p?.hyperVGeneration)
        id = s.id
        name = s.name
        provisioningState = AzureProvisioningState(azure: p?.provisioningState)
    }

    var armBody: ArmSnapshot {
        ArmSnapshot(
            location: location ?? "", tags: tags, sku: sku.map { ArmSku(name: $0) },
            properties: .init(
                creationData: (source ?? .empty).armBody, incremental: incremental, hyperVGeneration: hyperVGeneration))
    }
}

extension AzureImage {
    init(arm i: ArmImage) {
        let storage = i.properties?.storageProfile
        self.init(
            location: i.location, tags: i.tags, osType: storage?.osDisk?.osType, osState: storage?.osDisk?.osState,
            osDisk: storage?.osDisk.map {
                Disk(
                    source: Source(managedDisk: $0.managedDisk, snapshot: $0.snapshot), caching: $0.caching,
                    storageAccountType: $0.storageAccountType, diskEncryptionSetId: $0.diskEncryptionSet?.id)
            },
            dataDisks: storage?.dataDisks?.map {
                Disk(
                    lun: $0.lun, source: Source(managedDisk: $0.managedDisk, snapshot: $0.snapshot),
                    caching: $0.caching, storageAccountType: $0.storageAccountType,
                    diskEncryptionSetId: $0.diskEncryptionSet?.id)
            },
            hyperVGeneration: i.properties?.hyperVGeneration)
        id = i.id
        provisioningState = AzureProvisioningState(azure: i.properties?.provisioningState)
    }

    var armBody: ArmImage {
        let os = osDisk ?? Disk(source: nil)
        var armOS = ArmImage.OSDisk(
            osType: osType ?? "Linux", osState: osState ?? "Generalized",
            snapshot: os.source?.snapshotReference, managedDisk: os.source?.managedDiskReference,
            caching: os.caching, storageAccountType: os.storageAccountType)
        armOS.diskEncryptionSet = os.diskEncryptionSetId.map { ArmSubResource(id: $0) }
        let data = dataDisks?.map { disk in
            var d = ArmImage.DataDisk(
                lun: disk.lun ?? 0, snapshot: disk.source?.snapshotReference,
                managedDisk: disk.source?.managedDiskReference, caching: disk.caching,
                storageAccountType: disk.storageAccountType)
            d.diskEncryptionSet = disk.diskEncryptionSetId.map { ArmSubResource(id: $0) }
            return d
        }
        return ArmImage(
            location: location ?? "", tags: tags,
            properties: .init(storageProfile: .init(osDisk: armOS, dataDisks: data), hyperVGeneration: hyperVGeneration)
        )
    }
}

extension AzureGallery {
    init(arm g: ArmGallery) {
        self.init(location: g.location, tags: g.tags, description: g.properties?.description)
        provisioningState = AzureProvisioningState(azure: g.properties?.provisioningState)
    }
}

extension AzureGalleryImage {
    init(arm g: ArmGalleryImage) {
        let p = g.properties
        self.init(
            location: g.location, tags: g.tags, osType: p?.osType, osState: p?.osState,
            identifier: p?.identifier.map { Identifier(publisher: $0.publisher, offer: $0.offer, sku: $0.sku) },
            hyperVGeneration: p?.hyperVGeneration, architecture: p?.architecture,
            features: p?.features?.map { Feature(name: $0.name, value: $0.value) },
            description: p?.description, endOfLifeDate: p?.endOfLifeDate)
        eula = p?.eula
        privacyStatementUri = p?.privacyStatementUri
        releaseNoteUri = p?.releaseNoteUri
        recommendedVCPUs = p?.recommended?.vCPUs.map { RecommendedRange(min: $0.min, max: $0.max) }
        recommendedMemoryGB = p?.recommended?.memory.map { RecommendedRange(min: $0.min, max: $0.max) }
        provisioningState = AzureProvisioningState(azure: p?.provisioningState)
    }

    var armBody: ArmGalleryImage {
        var p = ArmGalleryImage.Properties(
            osType: "", osState: "", identifier: .init(publisher: "", offer: "", sku: ""))
        p.osType = osType
        p.osState = osState
        p.identifier = identifier.map { i in
            var armIdentifier = ArmGalleryImage.Identifier(publisher: "", offer: "", sku: "")
            (armIdentifier.publisher, armIdentifier.offer, armIdentifier.sku) = (i.publisher, i.offer, i.sku)
            return armIdentifier
        }
        p.hyperVGeneration = hyperVGeneration
        p.architecture = architecture
        p.features = features?.map { f in
            var feature = ArmGalleryImage.Feature(name: "", value: "")
            (feature.name, feature.value) = (f.name, f.value)
            return feature
        }
        p.description = description
        p.endOfLifeDate = endOfLifeDate
        p.eula = eula
        p.privacyStatementUri = privacyStatementUri
        p.releaseNoteUri = releaseNoteUri
        if recommendedVCPUs != nil || recommendedMemoryGB != nil {
            p.recommended = ArmGalleryImage.Recommended(
                vCPUs: recommendedVCPUs.map { ArmGalleryImage.Range(min: $0.min, max: $0.max) },
                memory: recommendedMemoryGB.map { ArmGalleryImage.Range(min: $0.min, max: $0.max) })
        }
        return ArmGalleryImage(location: location ?? "", tags: tags, properties: p)
    }
}

extension PublishingProfile {
    init(arm p: ArmGalleryImageVersion.PublishingProfile) {
        self.init(
            targetRegions: p.targetRegions?.map {
                Region(
                    name: $0.name, replicas: $0.regionalReplicaCount, storageAccountType: $0.storageAccountType,
                    excludeFromLatest: $0.excludeFromLatest,
                    diskEncryptionSetId: $0.encryption?.osDiskImage?.diskEncryptionSetId,
                    dataDiskLUNs: $0.encryption?.dataDiskImages?.compactMap(\.lun) ?? [])
            },
            excludeFromLatest: p.excludeFromLatest, endOfLifeDate: p.endOfLifeDate, replicationMode: p.replicationMode)
    }

    var armBody: ArmGalleryImageVersion.PublishingProfile {
        var profile = ArmGalleryImageVersion.PublishingProfile(
            targetRegions: targetRegions?.map { r in
                .init(
                    name: r.name, regionalReplicaCount: r.replicas, storageAccountType: r.storageAccountType,
                    excludeFromLatest: r.excludeFromLatest,
                    encryption: r.diskEncryptionSetId.map { set in
                        .init(
                            osDiskImage: .init(diskEncryptionSetId: set),
                            dataDiskImages: r.dataDiskLUNs.isEmpty
                                ? nil : r.dataDiskLUNs.map { .init(lun: $0, diskEncryptionSetId: set) })
                    })
            },
            excludeFromLatest: excludeFromLatest, endOfLifeDate: endOfLifeDate)
        profile.replicationMode = replicationMode
        return profile
    }
}

extension AzureGalleryImageVersion {
    init(arm v: ArmGalleryImageVersion) {
        let p = v.properties
        self.init(
            location: v.location, tags: v.tags,
            publishingProfile: p?.publishingProfile.map(PublishingProfile.init(arm:)),
            osDisk: p?.storageProfile?.osDiskImage.map {
                Disk(lun: $0.lun, sourceID: $0.source?.id, hostCaching: $0.hostCaching)
            },
            dataDisks: p?.storageProfile?.dataDiskImages?.map {
                Disk(lun: $0.lun, sourceID: $0.source?.id, hostCaching: $0.hostCaching)
            })
        id = v.id
        provisioningState = AzureProvisioningState(azure: p?.provisioningState)
        replication = p?.replicationStatus.map { status in
            Replication(
                aggregatedState: status.aggregatedState,
                regions: status.summary?.map {
                    RegionalReplication(
                        region: $0.region, state: $0.state.map(ReplicationState.init(azure:)), details: $0.details,
                        progress: $0.progress)
                })
        }
    }

    var armBody: ArmGalleryImageVersion {
        func image(_ disk: Disk) -> ArmGalleryImageVersion.DiskImage {
            ArmGalleryImageVersion.DiskImage(
                lun: disk.lun, source: ArmSubResource(id: disk.sourceID), hostCaching: disk.hostCaching)
        }
        return ArmGalleryImageVersion(
            location: location ?? "", tags: tags,
            properties: .init(
                publishingProfile: publishingProfile?.armBody,
                storageProfile: .init(osDiskImage: osDisk.map(image), dataDiskImages: dataDisks?.map(image))))
    }
}
