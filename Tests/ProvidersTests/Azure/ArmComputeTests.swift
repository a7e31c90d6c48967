import Foundation
import Model
import Testing

@testable import Providers

/// `ArmCompute` sends the bodies Kiln sent before the seam: each domain value maps to the
/// ARM body the executors used to build by hand, byte for byte, and what ARM answers maps
/// back to the same domain value.
@Suite struct ArmComputeTests {
    func bytes<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    let image =
        "/subscriptions/s/providers/Microsoft.Compute/locations/westus/publishers/P/artifacttypes/vmimage/offers/O/skus/S/versions/1.0.0"
    let version = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"

    @Test func diskBodiesAreTheOnesKilnSent() throws {
        let os = AzureDisk(
            location: "westus", tags: ["kiln:role": "os"], sku: "Premium_LRS", zones: ["1"], source: .image(id: image),
            sizeGB: 64,
            osType: "Linux", hyperVGeneration: "V2")
        let before = ArmDisk(
            location: "westus", tags: ["kiln:role": "os"], sku: ArmSku(name: "Premium_LRS"), zones: ["1"],
            properties: .init(
                creationData: ArmCreationData(
                    createOption: "FromImage", imageReference: ArmImageDiskReference(id: image)), diskSizeGB: 64,
                osType: "Linux", hyperVGeneration: "V2"))
        #expect(try bytes(os.armBody) == bytes(before))

        let data = AzureDisk(
            location: "westus", tags: [:], sku: "Standard_LRS", source: .galleryImageVersion(id: version, lun: 1),
            sizeGB: nil)
        let dataBefore = ArmDisk(
            location: "westus", tags: [:], sku: ArmSku(name: "Standard_LRS"), zones: nil,
            properties: .init(
                creationData: ArmCreationData(
                    createOption: "FromImage", galleryImageReference: ArmImageDiskReference(id: version, lun: 1))))
        #expect(try bytes(data.armBody) == bytes(dataBefore))

        let copy = AzureDisk(location: "westus", source: .copy(sourceID: "/x"), sizeGB: 4).armBody
        #expect(copy.properties?.creationData == ArmCreationData(createOption: "Copy", sourceResourceId: "/x"))
        #expect(
            AzureDisk(location: "westus", source: .empty).armBody.properties?.creationData
                == ArmCreationData(createOption: "Empty"))
    }

    @Test func snapshotImageAndVersionBodiesAreTheOnesKilnSent() throws {
        let snapshot = AzureSnapshot(
            location: "westus", tags: ["a": "b"], sku: "Standard_LRS", source: .copy(sourceID: "/disk"),
            incremental: false)
        let snapshotBefore = ArmSnapshot(
            location: "westus", tags: ["a": "b"], sku: ArmSku(name: "Standard_LRS"),
            properties: .init(
                creationData: ArmCreationData(createOption: "Copy", sourceResourceId: "/disk"), incremental: false))
        #expect(try bytes(snapshot.armBody) == bytes(snapshotBefore))

        let image = AzureImage(
            location: "westus", tags: ["a": "b"], osType: "Linux", osState: "Generalized",
            osDisk: .init(source: .snapshot(id: "/snap-os"), caching: "ReadOnly", storageAccountType: "Premium_LRS"),
            dataDisks: [
                .init(lun: 1, source: .managedDisk(id: "/disk-1"), caching: "None", storageAccountType: "Standard_LRS")
            ],
            hyperVGeneration: "V2")
        let imageBefore = ArmImage(
            location: "westus", tags: ["a": "b"],
            properties: .init(
                storageProfile: .init(
                    osDisk: .init(
                        osType: "Linux", osState: "Generalized", snapshot: ArmSubResource(id: "/snap-os"),
                        caching: "ReadOnly",
                        storageAccountType: "Premium_LRS"),
                    dataDisks: [
                        .init(
                            lun: 1, managedDisk: ArmSubResource(id: "/disk-1"), caching: "None",
                            storageAccountType: "Standard_LRS")
                    ]),
                hyperVGeneration: "V2"))
        #expect(try bytes(image.armBody) == bytes(imageBefore))

        let profile = PublishingProfile(
            targetRegions: [.init(name: "eastus", replicas: 2, storageAccountType: "Standard_ZRS")],
            excludeFromLatest: false, endOfLifeDate: nil)
        let version = AzureGalleryImageVersion(
            location: "westus", tags: ["a": "b"], publishingProfile: profile,
            osDisk: .init(sourceID: "/snap-os", hostCaching: "ReadOnly"),
            dataDisks: [.init(lun: 1, sourceID: "/snap-1", hostCaching: "None")])
        let versionBefore = ArmGalleryImageVersion(
            location: "westus", tags: ["a": "b"],
            properties: .init(
                publishingProfile: .init(
                    targetRegions: [.init(name: "eastus", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS")],
                    excludeFromLatest: false, endOfLifeDate: nil),
                storageProfile: .init(
                    osDiskImage: .init(source: ArmSubResource(id: "/snap-os"), hostCaching: "ReadOnly"),
                    dataDiskImages: [.init(lun: 1, source: ArmSubResource(id: "/snap-1"), hostCaching: "None")])))
        #expect(try bytes(version.armBody) == bytes(versionBefore))
        #expect(
            try bytes(PublishingProfilePatch(profile: profile.armBody))
                == #"{"properties":{"publishingProfile":{"endOfLifeDate":null,"excludeFromLatest":false,"targetRegions":[{"name":"eastus","regionalReplicaCount":2,"storageAccountType":"Standard_ZRS"}]},"storageProfile":{}}}"#
        )
    }

    /// A definition read back and written again (after its creation failed) keeps every
    /// property Azure gave, less the provisioning state.
    @Test func aGalleryImageDefinitionRoundTripsWithoutItsProvisioningState() throws {
        let json = """
            {"location":"westus","tags":{"owner":"t"},"properties":{"osType":"Linux","osState":"Generalized","hyperVGeneration":"V2",
             "architecture":"x64","identifier":{"publisher":"p","offer":"o","sku":"s"},"features":[{"name":"SecurityType","value":"TrustedLaunchSupported"}],
             "description":"d","endOfLifeDate":"2031-01-01","provisioningState":"Failed"}}
            """
        let read = try JSONDecoder().decode(ArmGalleryImage.self, from: Data(json.utf8))
        let definition = AzureGalleryImage(arm: read)
        #expect(definition.provisioningState == .failed)
        var before = read
        before.properties?.provisioningState = nil
        #expect(try bytes(definition.armBody) == bytes(before))

        let gallery = AzureGallery(
            arm: try JSONDecoder().decode(
                ArmGallery.self,
                from: Data(
                    #"{"location":"westus","tags":{"a":"b"},"properties":{"description":"x","provisioningState":"Creating"}}"#
                        .utf8)))
        #expect(
            gallery.provisioningState == .inProgress("Creating") && gallery.description == "x"
                && gallery.tags == ["a": "b"])
    }

    @Test func readsMapProvisioningAndReplicationStatesToEnums() throws {
        let json = """
            {"id":"/v","tags":{"kiln:digest":"sha256:x"},"properties":{"provisioningState":"succeeded",
             "publishingProfile":{"targetRegions":[{"name":"East US","regionalReplicaCount":2}],"excludeFromLatest":true},
             "storageProfile":{"osDiskImage":{"source":{"id":"/snap"},"hostCaching":"ReadOnly"}},
             "replicationStatus":{"aggregatedState":"InProgress","summary":[{"region":"East US","state":"Replicating","progress":40},
              {"region":"westus","state":"Failed","details":"quota"},{"region":"northeurope"}]}}}
            """
        let version = AzureGalleryImageVersion(
            arm: try JSONDecoder().decode(ArmGalleryImageVersion.self, from: Data(json.utf8)))
        #expect(version.provisioningState == .succeeded)
        #expect(version.publishingProfile?.targetRegions == [.init(name: "East US", replicas: 2)])
        #expect(version.osDisk == .init(sourceID: "/snap", hostCaching: "ReadOnly"))
        #expect(version.replication?.regions?.map(\.state) == [.replicating, .failed, nil])
        #expect(version.replication?.regions?[1].details == "quota")

        #expect(AzureProvisioningState(azure: nil) == .unreported && AzureProvisioningState(azure: nil).isInProgress)
        #expect(AzureProvisioningState(azure: "Cancelled").isFailed)
        #expect(AzureProvisioningState(azure: "Updating") == .inProgress("Updating"))
        #expect(
            ReplicationState(azure: "completed") == .completed
                && ReplicationState(azure: "Migrating") == .other("Migrating"))
    }

    /// The calls go to ARM as the typed client's calls always did.
    @Test func callsAreTheArmClientsRequests() async throws {
        let transport = ScriptedHTTPTransport()
        await transport.on(.get, "/disks/myDisk", json: (200, AzureFixtures.diskBody, [:]))
        await transport.on(
            .get, "/virtualMachines/builder",
            json: (
                200,
                """
                {"properties":{"storageProfile":{"dataDisks":[{"lun":3,"managedDisk":{"id":"\(AzureFixtures.disk)"},"toBeDetached":true}]}}}
                """, [:]
            ))
        await transport.on(
            .patch, "/versions/1.0.0", json: (200, #"{"properties":{"provisioningState":"Succeeded"}}"#, [:]))
        let compute = ArmCompute(AzureFixtures.client(transport))
        let disk = try #require(try await compute.disk(AzureFixtures.disk))
        #expect(
            disk.sizeGB == 200 && disk.source == .empty && disk.provisioningState == .succeeded && disk.name == "myDisk"
        )
        let dataDisks = try #require(try await compute.dataDisks(of: AzureFixtures.vm))
        #expect(dataDisks == [VMDataDisk(lun: 3, diskID: AzureFixtures.disk.description, toBeDetached: true)])
        #expect(dataDisks[0].isDisk(AzureFixtures.disk))

        let versionID = AzureFixtures.id("galleries/g/images/d/versions/1.0.0")
        let operation = try await compute.beginUpdatePublishingProfile(versionID, PublishingProfile(targetRegions: nil))
        #expect(operation.handle.operation == "update gallery image version")
        let patch = try #require(await transport.requests(.patch, containing: "/versions/1.0.0").first)
        #expect(
            String(decoding: patch.body ?? Data(), as: UTF8.self)
                == #"{"properties":{"publishingProfile":{"endOfLifeDate":null},"storageProfile":{}}}"#)
        #expect(compute.resourceURL(versionID) == compute.arm.url(for: versionID))
    }
}
