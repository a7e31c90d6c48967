import Foundation
import Model

/// The twin's disks, snapshots, managed images and galleries.
extension InMemoryCompute {
    // MARK: AzureCompute: disks and snapshots

    public func disk(_ id: ResourceID) async throws -> AzureDisk? {
        try record(.disk, id)
        return disks[Self.key(id)]
    }

    public func beginCreateDisk(_ id: ResourceID, _ disk: AzureDisk) async throws -> any AzureOperation {
        try record(.beginCreateDisk, id)
        let key = Self.key(id)
        var stored = disk
        stored.id = id.description
        stored.name = id.name
        stored.managedBy = disks[key]?.managedBy
        stored.diskState = disks[key]?.diskState ?? "Unattached"
        stored.hyperVGeneration = stored.hyperVGeneration ?? disk.source.flatMap(inheritedGeneration)
        stored.provisioningState = .inProgress(disks[key] == nil ? "Creating" : "Updating")
        disks[key] = stored
        ids[key] = id
        return start(.beginCreateDisk, "create disk", id, method: .put, effect: .provision(.disk, key: key))
    }

    public func beginDeleteDisk(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteDisk, id)
        return beginDelete(.beginDeleteDisk, "delete disk", id, kind: .disk, exists: disks[Self.key(id)] != nil)
    }

    public func snapshot(_ id: ResourceID) async throws -> AzureSnapshot? {
        try record(.snapshot, id)
        return snapshots[Self.key(id)]
    }

    public func beginCreateSnapshot(_ id: ResourceID, _ snapshot: AzureSnapshot) async throws -> any AzureOperation {
        try record(.beginCreateSnapshot, id)
        let key = Self.key(id)
        var stored = snapshot
        stored.id = id.description
        stored.name = id.name
        if case .copy(let source) = snapshot.source, let sourceID = try? ResourceID(parsing: source),
            let disk = disks[Self.key(sourceID)]
        {
            stored.hyperVGeneration = stored.hyperVGeneration ?? disk.hyperVGeneration
        }
        stored.provisioningState = .inProgress(snapshots[key] == nil ? "Creating" : "Updating")
        snapshots[key] = stored
        ids[key] = id
        return start(.beginCreateSnapshot, "create snapshot", id, method: .put, effect: .provision(.snapshot, key: key))
    }

    public func beginDeleteSnapshot(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteSnapshot, id)
        return beginDelete(
            .beginDeleteSnapshot, "delete snapshot", id, kind: .snapshot, exists: snapshots[Self.key(id)] != nil)
    }

    // MARK: AzureCompute: managed images

    public func image(_ id: ResourceID) async throws -> AzureImage? {
        try record(.image, id)
        return images[Self.key(id)]
    }

    public func beginCreateImage(_ id: ResourceID, _ image: AzureImage) async throws -> any AzureOperation {
        try record(.beginCreateImage, id)
        let key = Self.key(id)
        var stored = image
        stored.id = id.description
        // As Azure does: without one given, the image takes its OS disk source's generation.
        if stored.hyperVGeneration == nil {
            switch image.osDisk?.source {
            case .managedDisk(let source): stored.hyperVGeneration = disks[source.lowercased()]?.hyperVGeneration
            case .snapshot(let source): stored.hyperVGeneration = snapshots[source.lowercased()]?.hyperVGeneration
            case nil: break
            }
        }
        stored.provisioningState = .inProgress(images[key] == nil ? "Creating" : "Updating")
        images[key] = stored
        ids[key] = id
        return start(.beginCreateImage, "create image", id, method: .put, effect: .provision(.image, key: key))
    }

    public func beginDeleteImage(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteImage, id)
        return beginDelete(.beginDeleteImage, "delete image", id, kind: .image, exists: images[Self.key(id)] != nil)
    }

    // MARK: AzureCompute: galleries

    public func gallery(_ id: ResourceID) async throws -> AzureGallery? {
        try record(.gallery, id)
        return galleries[Self.key(id)]
    }

    public func beginCreateGallery(_ id: ResourceID, _ gallery: AzureGallery) async throws -> any AzureOperation {
        try record(.beginCreateGallery, id)
        let key = Self.key(id)
        var stored = gallery
        stored.provisioningState = .inProgress(galleries[key] == nil ? "Creating" : "Updating")
        galleries[key] = stored
        ids[key] = id
        return start(.beginCreateGallery, "create gallery", id, method: .put, effect: .provision(.gallery, key: key))
    }

    public func galleryImage(_ id: ResourceID) async throws -> AzureGalleryImage? {
        try record(.galleryImage, id)
        return galleryImages[Self.key(id)]
    }

    public func beginCreateGalleryImage(
        _ id: ResourceID, _ definition: AzureGalleryImage
    ) async throws -> any AzureOperation {
        try record(.beginCreateGalleryImage, id)
        let key = Self.key(id)
        guard let gallery = id.parent, galleries[Self.key(gallery)] != nil else {
            throw Self.notFound(
                "create gallery image definition", id, "the gallery \(id.parent?.name ?? "?") does not exist")
        }
        var stored = definition
        stored.provisioningState = .inProgress(galleryImages[key] == nil ? "Creating" : "Updating")
        galleryImages[key] = stored
        ids[key] = id
        return start(
            .beginCreateGalleryImage, "create gallery image definition", id, method: .put,
            effect: .provision(.galleryImage, key: key))
    }

    public func galleryImageVersions(of definition: ResourceID) async throws -> [AzureGalleryImageVersion] {
        try record(.galleryImageVersions, definition)
        settle()
        let prefix = Self.key(definition) + "/versions/"
        return versions.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map(\.value)
    }

    public func galleryImageVersion(_ id: ResourceID, replicationStatus: Bool) async throws -> AzureGalleryImageVersion?
    {
        try record(.galleryImageVersion, id)
        let key = Self.key(id)
        guard var version = versions[key] else { return nil }
        if replicationStatus { version.replication = replicationOf(key, version) }
        return version
    }

    public func beginCreateGalleryImageVersion(
        _ id: ResourceID, _ version: AzureGalleryImageVersion
    ) async throws
        -> any AzureOperation
    {
        try record(.beginCreateGalleryImageVersion, id)
        let key = Self.key(id)
        guard let definition = id.parent, galleryImages[Self.key(definition)] != nil else {
            throw Self.notFound(
                "create gallery image version", id, "the image definition \(id.parent?.name ?? "?") does not exist")
        }
        var stored = version
        stored.id = id.description
        stored.provisioningState = .inProgress(versions[key] == nil ? "Creating" : "Updating")
        versions[key] = stored
        ids[key] = id
        let operation = start(
            .beginCreateGalleryImageVersion, "create gallery image version", id, method: .put,
            effect: .provision(.version, key: key))
        replication[key] = Replicating(starts: clock.now, ends: pending[operation.number ?? 0]?.ends ?? clock.now)
        return operation
    }

    public func beginUpdatePublishingProfile(
        _ id: ResourceID, _ profile: PublishingProfile
    ) async throws -> any AzureOperation {
        try record(.beginUpdatePublishingProfile, id)
        let key = Self.key(id)
        guard versions[key] != nil else {
            throw Self.notFound("update gallery image version", id, "the version does not exist")
        }
        versions[key]?.provisioningState = .inProgress("Updating")
        let operation = start(
            .beginUpdatePublishingProfile, "update gallery image version", id, method: .patch,
            effect: .profile(key: key, profile))
        replication[key] = Replicating(starts: clock.now, ends: pending[operation.number ?? 0]?.ends ?? clock.now)
        return operation
    }

    public func beginDeleteGalleryImageVersion(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteGalleryImageVersion, id)
        return beginDelete(
            .beginDeleteGalleryImageVersion, "delete gallery image version", id, kind: .version,
            exists: versions[Self.key(id)] != nil)
    }
}
