import Foundation
import Model

// Typed calls per resource type. Each checks that the id is of the right type, so a
// snapshot id passed as a disk fails here with a clear message, not as a 404 from Azure.
extension ArmClient {
    func require(_ id: ResourceID, is type: String, for operation: String) throws {
        guard id.isType(type) else {
            throw ArmError(
                kind: .invalidRequest, operation: operation, resource: id.description,
                message: "expected a \(type) id, got a \(id.fullType) id")
        }
    }

    // MARK: Disks

    public func getDisk(_ id: ResourceID) async throws -> ArmDisk? {
        try require(id, is: "Microsoft.Compute/disks", for: "read disk")
        return try await get(id, as: ArmDisk.self)
    }

    /// Creates or replaces a disk (PUT; Azure answers 200 or 202).
    public func beginCreateDisk(_ id: ResourceID, _ disk: ArmDisk) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/disks", for: "create disk")
        return try await beginPut(id, body: disk)
    }

    /// Resizes a disk, changes its tier, sku or tags (PATCH; tags replace the whole set).
    public func beginUpdateDisk(_ id: ResourceID, _ update: ArmDiskUpdate) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/disks", for: "update disk")
        return try await beginPatch(id, body: update)
    }

    public func beginDeleteDisk(_ id: ResourceID) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/disks", for: "delete disk")
        return try await beginDelete(id)
    }

    // MARK: Snapshots

    public func getSnapshot(_ id: ResourceID) async throws -> ArmSnapshot? {
        try require(id, is: "Microsoft.Compute/snapshots", for: "read snapshot")
        return try await get(id, as: ArmSnapshot.self)
    }

    public func beginCreateSnapshot(_ id: ResourceID, _ snapshot: ArmSnapshot) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/snapshots", for: "create snapshot")
        return try await beginPut(id, body: snapshot)
    }

    public func beginDeleteSnapshot(_ id: ResourceID) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/snapshots", for: "delete snapshot")
        return try await beginDelete(id)
    }

    // MARK: Managed images

    public func getImage(_ id: ResourceID) async throws -> ArmImage? {
        try require(id, is: "Microsoft.Compute/images", for: "read image")
        return try await get(id, as: ArmImage.self)
    }

    public func beginCreateImage(_ id: ResourceID, _ image: ArmImage) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/images", for: "create image")
        return try await beginPut(id, body: image)
    }

    public func beginDeleteImage(_ id: ResourceID) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/images", for: "delete image")
        return try await beginDelete(id)
    }

    // MARK: Galleries

    public func getGallery(_ id: ResourceID) async throws -> ArmGallery? {
        try require(id, is: "Microsoft.Compute/galleries", for: "read gallery")
        return try await get(id, as: ArmGallery.self)
    }

    public func beginCreateGallery(_ id: ResourceID, _ gallery: ArmGallery) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/galleries", for: "create gallery")
        return try await beginPut(id, body: gallery)
    }

    public func getGalleryImage(_ id: ResourceID) async throws -> ArmGalleryImage? {
        try require(id, is: "Microsoft.Compute/galleries/images", for: "read gallery image definition")
        return try await get(id, as: ArmGalleryImage.self)
    }

    public func beginCreateGalleryImage(_ id: ResourceID, _ image: ArmGalleryImage) async throws -> LongRunningOperation
    {
        try require(id, is: "Microsoft.Compute/galleries/images", for: "create gallery image definition")
        return try await beginPut(id, body: image)
    }

    /// Reads an image version; with `replicationStatus`, asks for `$expand=ReplicationStatus`
    /// so `properties.replicationStatus` carries the per-region state.
    public func getGalleryImageVersion(_ id: ResourceID, replicationStatus: Bool = false) async throws
        -> ArmGalleryImageVersion?
    {
        try require(id, is: "Microsoft.Compute/galleries/images/versions", for: "read gallery image version")
        return try await get(
            id, as: ArmGalleryImageVersion.self, query: replicationStatus ? [("$expand", "ReplicationStatus")] : [])
    }

    public func beginCreateGalleryImageVersion(_ id: ResourceID, _ version: ArmGalleryImageVersion) async throws
        -> LongRunningOperation
    {
        try require(id, is: "Microsoft.Compute/galleries/images/versions", for: "create gallery image version")
        return try await beginPut(id, body: version)
    }

    public func beginUpdateGalleryImageVersion(_ id: ResourceID, _ update: ArmGalleryImageVersionUpdate) async throws
        -> LongRunningOperation
    {
        try require(id, is: "Microsoft.Compute/galleries/images/versions", for: "update gallery image version")
        return try await beginPatch(id, body: update)
    }

    public func beginDeleteGalleryImageVersion(_ id: ResourceID) async throws -> LongRunningOperation {
        try require(id, is: "Microsoft.Compute/galleries/images/versions", for: "delete gallery image version")
        return try await beginDelete(id)
    }

    /// Every version of an image definition.
    public func listGalleryImageVersions(_ definition: ResourceID) async throws -> [ArmGalleryImageVersion] {
        try require(definition, is: "Microsoft.Compute/galleries/images", for: "list gallery image versions")
        return try await listPaged(
            url(for: definition, action: "versions"), as: ArmGalleryImageVersion.self,
            operation: "list gallery image versions", resource: definition.description)
    }

    // MARK: Virtual machines

    public func getVirtualMachine(_ id: ResourceID) async throws -> ArmVirtualMachine? {
        try require(id, is: "Microsoft.Compute/virtualMachines", for: "read virtual machine")
        return try await get(id, as: ArmVirtualMachine.self)
    }

    // MARK: Resources by tag

    /// The resources of a resource group carrying tag `tagName` (with `tagValue`, when given),
    /// or every resource of the group when `tagName` is nil; follows `nextLink`. ARM filters
    /// by one tag per call.
    ///
    /// A tag-filtered list names the resources but ARM does not return their tags (documented
    /// for name and value, "the tags for each resource are not returned in the results", and
    /// reported for a name alone: Azure/azure-cli#3180, #19138). To read tags, list without
    /// a tag filter and select locally.
    public func listResources(
        subscription: String, resourceGroup: String, tagName: String? = nil, tagValue: String? = nil
    ) async throws -> [ArmGenericResource] {
        var query: [(String, String)] = []
        if let tagName {
            var filter = "tagName eq '\(tagName.replacingOccurrences(of: "'", with: "''"))'"
            if let tagValue { filter += " and tagValue eq '\(tagValue.replacingOccurrences(of: "'", with: "''"))'" }
            query.append(("$filter", filter))
        }
        let path =
            "/subscriptions/\(subscription.armPathEncoded)/resourceGroups/\(resourceGroup.armPathEncoded)/resources"
        return try await listPaged(
            url(path: path, apiVersion: apiVersions.resources, query: query), as: ArmGenericResource.self,
            operation: tagName.map { "list resources tagged \($0)" } ?? "list resources",
            resource: "/subscriptions/\(subscription)/resourceGroups/\(resourceGroup)")
    }

    /// GETs a `{"value":[...],"nextLink"}` list and its following pages.
    func listPaged<T: Decodable & Sendable>(_ first: URL, as type: T.Type, operation: String, resource: String)
        async throws -> [T]
    {
        var items: [T] = []
        var next: URL? = first
        var pages = 0
        while let url = next {
            pages += 1
            guard pages <= 1000 else {
                throw ArmError(
                    kind: .invalidResponse, operation: operation, resource: resource,
                    message: "more than 1000 pages; nextLink seems to loop")
            }
            let response = try await send(.get, url, operation: operation, resource: resource)
            let page = try decode(ArmList<T>.self, from: response, operation: operation, resource: resource)
            items += page.value
            next = page.nextLink.flatMap { $0.isEmpty ? nil : URL(string: $0) }
        }
        return items
    }
}
