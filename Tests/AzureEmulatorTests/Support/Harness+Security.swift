import Foundation

@testable import AzureEmulator

/// Helpers for the security type, architecture, encryption and replication tests.
extension Harness {
    /// The ARM id of a catalog image version (`sku` of `Canonical:ubuntu-24_04-lts`).
    func platformImageID(sku: String, version: String = "24.04.202501010") -> String {
        "/Subscriptions/\(sub)/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/\(sku)/Versions/\(version)"
    }

    /// PUT of a disk made from a platform image, with extra properties (e.g. `securityProfile`).
    func putDiskFromImage(_ name: String, sku: String, properties: JSON = [:]) async throws -> HTTPResult {
        var props: JSON = [
            "creationData": ["createOption": "FromImage", "imageReference": ["id": .string(platformImageID(sku: sku))]]
        ]
        props = props.merging(properties)
        return try await send("PUT", diskPath(name), json: ["location": "westus", "properties": props])
    }

    /// Makes a disk from a platform image and waits for it; throws unless Azure accepts it.
    @discardableResult
    func diskFromImage(_ name: String, sku: String, properties: JSON = [:]) async throws -> JSON {
        let r = try await putDiskFromImage(name, sku: sku, properties: properties)
        guard r.status == 202 else { throw HarnessError(message: "disk PUT answered \(r.status): \(r.text)") }
        _ = try await waitForOperation(r)
        return try await send("GET", diskPath(name)).json ?? .null
    }

    /// The image definition `definition` in gallery `gallery` (made when missing) with these
    /// properties besides the required ones; answers the PUT.
    func putDefinition(gallery: String, definition: String, properties: JSON = [:]) async throws -> HTTPResult {
        let galleryID = "\(compute)/galleries/\(gallery)"
        if try await send("GET", "\(galleryID)?api-version=2024-03-03").status == 404 {
            _ = try await waitForOperation(
                try await send("PUT", "\(galleryID)?api-version=2024-03-03", json: ["location": "westus"]))
        }
        let base: JSON = [
            "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
            "identifier": ["publisher": "p", "offer": "o", "sku": .string(definition)]
        ]
        return try await send(
            "PUT", "\(galleryID)/images/\(definition)?api-version=2024-03-03",
            json: ["location": "westus", "properties": base.merging(properties)])
    }

    func definitionPath(gallery: String, definition: String) -> String {
        "\(compute)/galleries/\(gallery)/images/\(definition)?api-version=2024-03-03"
    }

    func versionPath(gallery: String, definition: String, version: String) -> String {
        "\(compute)/galleries/\(gallery)/images/\(definition)/versions/\(version)?api-version=2024-03-03"
    }

    /// PUT of a version whose OS disk image is the managed disk `disk`.
    func putVersion(
        gallery: String, definition: String, version: String, disk: String, publishing: JSON = [:]
    ) async throws -> HTTPResult {
        try await send(
            "PUT", versionPath(gallery: gallery, definition: definition, version: version),
            json: [
                "location": "westus",
                "properties": [
                    "publishingProfile": publishing,
                    "storageProfile": ["osDiskImage": ["source": ["id": .string(diskID(disk))]]]
                ]
            ])
    }

    /// PUT of a managed image whose OS disk is the managed disk `disk` (plus `osDisk` extras).
    func putImage(_ name: String, fromDisk disk: String, osDisk extra: JSON = [:]) async throws -> HTTPResult {
        let osDisk: JSON = [
            "osType": "Linux", "osState": "Generalized", "managedDisk": ["id": .string(diskID(disk))]
        ]
        return try await send(
            "PUT", "\(compute)/images/\(name)?api-version=2024-07-01",
            json: ["location": "westus", "properties": ["storageProfile": ["osDisk": osDisk.merging(extra)]]])
    }

    func diskEncryptionSetID(_ name: String, resourceGroup: String? = nil) -> String {
        "/subscriptions/\(sub)/resourceGroups/\(resourceGroup ?? rg)/providers/Microsoft.Compute/diskEncryptionSets/\(name)"
    }
}
