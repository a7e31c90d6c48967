import Foundation
import Testing

@testable import Providers

/// The sample bodies of shared/reference/azure-rest-api.md, with unknown fields added.
@Suite struct ArmModelsTests {
    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    @Test func diskGetDecodes() throws {
        let disk = try decode(
            ArmDisk.self,
            """
            { "id": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myManagedDisk",
              "name": "myManagedDisk", "type": "Microsoft.Compute/disks", "location": "westus",
              "managedBy": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
              "sku": { "name": "Standard_LRS", "tier": "Standard" }, "zones": ["1"], "unknownTopLevel": [1,2,3],
              "properties": {
                "osType": "Windows", "hyperVGeneration": "V1",
                "creationData": { "createOption": "FromImage",
                  "imageReference": { "id": "/Subscriptions/s/Providers/Microsoft.Compute/Locations/westus/Publishers/p/ArtifactTypes/VMImage/Offers/o/Skus/s/Versions/1.0.0" } },
                "diskSizeGB": 10, "diskSizeBytes": 10737418240, "uniqueId": "a395e9c1-fb9e-446e-a9ba-7b2fa0bcd305",
                "encryption": { "type": "EncryptionAtRestWithPlatformKey" }, "networkAccessPolicy": "AllowAll",
                "publicNetworkAccess": "Enabled", "diskState": "Attached", "tier": "P3",
                "LastOwnershipUpdateTime": "2016-12-28T04:41:35.079872+00:00", "timeCreated": "2016-12-28T04:41:35.079872+00:00",
                "provisioningState": "Succeeded", "supportedCapabilities": {"acceleratedNetwork": true, "somethingNew": "x"},
                "futureProperty": {"nested": {"deep": true}} } }
            """)
        #expect(disk.properties?.diskState == "Attached")
        #expect(disk.properties?.lastOwnershipUpdateTime == "2016-12-28T04:41:35.079872+00:00")
        #expect(disk.properties?.creationData?.imageReference?.id?.hasSuffix("Versions/1.0.0") == true)
        #expect(disk.properties?.diskSizeBytes == 10_737_418_240)
        #expect(disk.sku?.tier == "Standard")
        #expect(disk.managedBy?.hasSuffix("/vm") == true)
    }

    @Test func diskPutBodyOmitsAbsentFields() throws {
        let disk = ArmDisk(
            location: "westus", tags: ["kiln:build": "b"], sku: ArmSku(name: "Premium_LRS"),
            properties: .init(
                creationData: .init(
                    createOption: "Copy",
                    sourceResourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/x"),
                osType: "Linux", hyperVGeneration: "V2"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try encoder.encode(disk), as: UTF8.self)
        #expect(
            text
                == #"{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/x"},"hyperVGeneration":"V2","osType":"Linux"},"sku":{"name":"Premium_LRS"},"tags":{"kiln:build":"b"}}"#
        )
    }

    @Test func incrementalSnapshotDecodes() throws {
        let snapshot = try decode(
            ArmSnapshot.self,
            """
            { "id": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/snapshots/myIncrementalSnapshot",
              "name": "myIncrementalSnapshot", "type": "Microsoft.Compute/snapshots", "location": "westus",
              "properties": { "osType": "Windows", "hyperVGeneration": "V1",
                "creationData": { "createOption": "Copy", "sourceResourceId": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myDisk",
                                  "sourceUniqueId": "d633885d-d102-4481-901e-5b2413d1a7be" },
                "diskSizeGB": 100, "diskSizeBytes": 10737418240, "encryption": { "type": "EncryptionAtRestWithPlatformKey" },
                "incremental": true, "incrementalSnapshotFamilyId": "d1a341d5-1ea7-4a85-b304-944ad8021639",
                "uniqueId": "a395e9c1-fb9e-446e-a9ba-7b2fa0bcd305", "timeCreated": "2016-12-28T04:41:35.079872+00:00",
                "provisioningState": "Succeeded", "networkAccessPolicy": "0", "diskState": "0" } }
            """)
        #expect(snapshot.properties?.incremental == true)
        #expect(snapshot.properties?.creationData?.sourceUniqueId == "d633885d-d102-4481-901e-5b2413d1a7be")
    }

    @Test func imageDecodes() throws {
        let image = try decode(
            ArmImage.self,
            """
            { "type": "Microsoft.Compute/images", "location": "westus", "name": "myImage",
              "properties": { "hyperVGeneration": "V2", "provisioningState": "Creating",
                "storageProfile": { "osDisk": { "osType": "Linux", "osState": "Generalized",
                    "snapshot": { "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/osSnap" },
                    "caching": "ReadWrite", "storageAccountType": "Premium_LRS", "diskSizeGB": 30 },
                  "dataDisks": [ { "lun": 1, "snapshot": { "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/dataSnap" } } ],
                  "zoneResilient": true } } }
            """)
        #expect(image.properties?.storageProfile?.osDisk?.snapshot?.id?.hasSuffix("osSnap") == true)
        #expect(image.properties?.storageProfile?.dataDisks?.first?.lun == 1)
        #expect(image.properties?.storageProfile?.zoneResilient == true)
    }

    @Test func galleryAndDefinitionDecode() throws {
        let gallery = try decode(
            ArmGallery.self,
            """
            { "id": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/galleries/myGalleryName", "name": "myGalleryName",
              "location": "West US", "properties": { "description": "This is the gallery description.",
                "identifier": { "uniqueName": "{subscription-id}-MYGALLERYNAME" }, "provisioningState": "Succeeded", "sharingProfile": {} } }
            """)
        #expect(gallery.properties?.identifier?.uniqueName == "{subscription-id}-MYGALLERYNAME")
        let definition = try decode(
            ArmGalleryImage.self,
            """
            { "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/myGallery/images/myDef", "name": "myDef",
              "type": "Microsoft.Compute/galleries/images", "location": "westus3",
              "properties": { "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2", "architecture": "x64",
                "identifier": { "publisher": "myPublisher", "offer": "myOffer", "sku": "mySku" },
                "features": [ { "name": "SecurityType", "value": "TrustedLaunchSupported" }, { "name": "DiskControllerTypes", "value": "SCSI, NVMe" } ],
                "recommended": { "vCPUs": { "min": 1, "max": 16 }, "memory": { "min": 1, "max": 32 } },
                "endOfLifeDate": "2030-01-01T00:00:00+00:00", "provisioningState": "Succeeded" } }
            """)
        #expect(definition.properties?.identifier?.offer == "myOffer")
        #expect(definition.properties?.features?.first?.value == "TrustedLaunchSupported")
    }

    @Test func imageVersionWithReplicationStatusDecodes() throws {
        let version = try decode(
            ArmGalleryImageVersion.self,
            """
            { "name": "1.0.0", "location": "westus",
              "properties": {
                "publishingProfile": { "targetRegions": [ { "name": "westus", "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS" },
                                                          { "name": "eastus", "regionalReplicaCount": 2, "storageAccountType": "Standard_ZRS", "excludeFromLatest": false } ],
                                       "replicaCount": 1, "excludeFromLatest": false, "publishedDate": "2018-01-01T00:00:00Z", "endOfLifeDate": "2030-01-01T00:00:00Z" },
                "storageProfile": { "osDiskImage": { "source": { "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/osSnap" }, "hostCaching": "ReadOnly", "sizeInGB": 10 },
                                    "dataDiskImages": [ { "lun": 1, "source": { "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/dataDisk" }, "hostCaching": "None" } ] },
                "safetyProfile": { "allowDeletionOfReplicatedLocations": false, "reportedForPolicyViolation": false },
                "provisioningState": "Succeeded",
                "replicationStatus": { "aggregatedState": "Completed",
                  "summary": [ { "region": "West US", "state": "Completed", "details": "", "progress": 100 },
                               { "region": "East US", "state": "Replicating", "details": "", "progress": 40 } ] } } }
            """)
        #expect(version.properties?.replicationStatus?.aggregatedState == "Completed")
        #expect(version.properties?.replicationStatus?.summary?.map(\.progress) == [100, 40])
        #expect(version.properties?.publishingProfile?.targetRegions?.map(\.name) == ["westus", "eastus"])
        #expect(version.properties?.storageProfile?.dataDiskImages?.first?.lun == 1)
    }

    @Test func virtualMachineDecodes() throws {
        let vm = try decode(
            ArmVirtualMachine.self,
            """
            { "name": "myVM", "id": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM",
              "type": "Microsoft.Compute/virtualMachines", "location": "West US", "tags": { "myTag1": "tagValue1" }, "etag": "\\"1\\"", "zones": ["1"],
              "properties": { "vmId": "0f47b100-583c-48e3-a4c0-aefc2c9bbcc1", "hardwareProfile": { "vmSize": "Standard_DS3_v2" },
                "storageProfile": {
                  "imageReference": { "publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2016-Datacenter", "version": "latest" },
                  "osDisk": { "osType": "Windows", "name": "myOsDisk", "createOption": "FromImage", "caching": "ReadWrite",
                              "managedDisk": { "storageAccountType": "Premium_LRS", "id": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myOsDisk" }, "diskSizeGB": 30 },
                  "dataDisks": [ { "lun": 1, "name": "myDataDisk1", "createOption": "Attach", "caching": "ReadWrite",
                                   "managedDisk": { "storageAccountType": "Premium_LRS", "id": "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myDataDisk1" },
                                   "diskSizeGB": 100, "toBeDetached": false, "deleteOption": "Detach" } ] },
                "networkProfile": { "networkInterfaces": [] }, "provisioningState": "Succeeded", "timeCreated": "2021-06-27T01:02:38.3138469+00:00" } }
            """)
        #expect(vm.etag == "\"1\"")
        #expect(vm.properties?.hardwareProfile?.vmSize == "Standard_DS3_v2")
        #expect(vm.properties?.storageProfile?.dataDisks?.first?.lun == 1)
        #expect(vm.properties?.storageProfile?.dataDisks?.first?.deleteOption == "Detach")
    }

    @Test func platformImageListAndDetailDecode() throws {
        let list = try decode(
            [ArmPlatformImageVersionEntry].self,
            """
            [ { "location": "westus3", "name": "22.04.202308010", "id": "/Subscriptions/s/Providers/Microsoft.Compute/Locations/westus3/Publishers/Canonical/ArtifactTypes/VMImage/Offers/0001-com-ubuntu-server-jammy/Skus/22_04-lts-gen2/Versions/22.04.202308010" },
              { "location": "westus3", "name": "22.04.202309080", "tags": {}, "extendedLocation": null } ]
            """)
        #expect(list.map(\.name) == ["22.04.202308010", "22.04.202309080"])
        let detail = try decode(
            ArmPlatformImageVersion.self,
            """
            { "properties": { "hyperVGeneration": "V2", "architecture": "x64", "replicaType": "Managed", "replicaCount": 10,
                "disallowed": { "vmDiskType": "Unmanaged" }, "automaticOSUpgradeProperties": { "automaticOSUpgradeSupported": false },
                "imageDeprecationStatus": { "imageState": "Active" },
                "features": [ { "name": "SecurityType", "value": "TrustedLaunchSupported" } ],
                "osDiskImage": { "operatingSystem": "Linux", "sizeInGb": 30 }, "dataDiskImages": [] },
              "location": "WestUS3", "name": "22.04.202309080",
              "id": "/Subscriptions/s/Providers/Microsoft.Compute/Locations/WestUS3/Publishers/Canonical/ArtifactTypes/VMImage/Offers/0001-com-ubuntu-server-jammy/Skus/22_04-lts-gen2/Versions/22.04.202309080" }
            """)
        #expect(detail.properties?.hyperVGeneration == "V2")
        #expect(detail.properties?.osDiskImage?.sizeInGb == 30)
        #expect(detail.properties?.imageDeprecationStatus?.imageState == "Active")
    }

    @Test func errorBodiesParseWrappedAndUnwrapped() {
        let wrapped = ArmErrorBody.parse(
            Data(
                #"{"error":{"code":"InvalidParameter","message":"A disk at LUN 0 already exists.","target":"dataDisks"}}"#
                    .utf8))
        #expect(wrapped.code == "InvalidParameter")
        #expect(wrapped.message == "A disk at LUN 0 already exists.")
        let bare = ArmErrorBody.parse(
            Data(
                #"{"code":"OperationNotAllowed","message":"too many","details":[{"code":"TooManyRequests","target":"HighCostGet30Min"}]}"#
                    .utf8))
        #expect(bare.code == "OperationNotAllowed")
        #expect(ArmErrorBody.parse(Data("<html>".utf8)).code == nil)
    }
}
