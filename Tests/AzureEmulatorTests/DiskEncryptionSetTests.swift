import Foundation
import Testing

@testable import AzureEmulator

/// Disk encryption sets: served, preset by configuration, and checked wherever a disk,
/// snapshot, image or gallery version names one.
@Suite("Disk encryption sets")
struct DiskEncryptionSetTests {
    @Test func aSetIsMadeReadListedAndDeleted() async throws {
        try await withEmulator { h in
            let path = h.diskEncryptionSetID("des1") + "?api-version=2024-03-02"
            #expect(try await h.send("GET", path).status == 404)
            let put = try await h.send(
                "PUT", path,
                json: [
                    "location": "westus", "identity": ["type": "SystemAssigned"],
                    "properties": [
                        "activeKey": ["keyUrl": "https://vault.vault.azure.net/keys/k/1"],
                        "encryptionType": "EncryptionAtRestWithPlatformAndCustomerKeys"
                    ]
                ])
            #expect(put.status == 202)
            _ = try await h.waitForOperation(put)
            let got = try await h.send("GET", path)
            #expect(got.json?["type"]?.stringValue == "Microsoft.Compute/diskEncryptionSets")
            #expect(
                got.json?.at("properties", "encryptionType")?.stringValue
                    == "EncryptionAtRestWithPlatformAndCustomerKeys")
            #expect(got.json?.at("properties", "provisioningState")?.stringValue == "Succeeded")
            #expect(got.json?.at("identity", "principalId")?.stringValue != nil)
            let list = try await h.send("GET", "\(h.compute)/diskEncryptionSets?api-version=2024-03-02")
            #expect(list.json?["value"]?.arrayValue?.count == 1)
            let bad = try await h.send(
                "PUT", h.diskEncryptionSetID("des2") + "?api-version=2024-03-02",
                json: ["location": "westus", "properties": ["encryptionType": "Rot13"]])
            #expect(bad.status == 400)
            let delete = try await h.send("DELETE", path)
            #expect(delete.status == 202)
            _ = try await h.waitForOperation(delete)
            #expect(try await h.send("GET", path).status == 404)
        }
    }

    @Test func disksSnapshotsImagesAndVersionsNameOnlySetsThatExist() async throws {
        try await withEmulator({ $0.diskEncryptionSets = ["keys-rg/preset"] }) { h in
            let preset = h.diskEncryptionSetID("preset", resourceGroup: "keys-rg")
            #expect(
                try await h.send("GET", preset + "?api-version=2024-03-02").json?.at("properties", "provisioningState")?
                    .stringValue == "Succeeded")
            let missing = h.diskEncryptionSetID("nope")
            let refused = try await h.putDisk(
                "d0", extra: ["properties": ["encryption": ["diskEncryptionSetId": .string(missing)]]])
            #expect(refused.status == 400)
            #expect(refused.errorCode == "BadRequest")
            #expect(
                refused.json?.at("error", "message")?.stringValue == "DiskEncryptionSet '\(missing)' was not found.")
            let noSet = try await h.putDisk(
                "d0", extra: ["properties": ["encryption": ["type": "EncryptionAtRestWithCustomerKey"]]])
            #expect(noSet.status == 400)
            let made = try await h.putDisk(
                "d1", sizeGB: 30, extra: ["properties": ["encryption": ["diskEncryptionSetId": .string(preset)]]])
            #expect(made.status == 202)
            _ = try await h.waitForOperation(made)
            let disk = try await h.send("GET", h.diskPath("d1"))
            #expect(disk.json?.at("properties", "encryption", "diskEncryptionSetId")?.stringValue == preset)
            #expect(disk.json?.at("properties", "encryption", "type")?.stringValue == "EncryptionAtRestWithCustomerKey")
            let snapshot = try await h.send(
                "PUT", "\(h.compute)/snapshots/s1?api-version=2024-03-02",
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.diskID("d1"))],
                        "encryption": ["diskEncryptionSetId": .string(missing)]
                    ]
                ])
            #expect(snapshot.status == 400)
            let confidential = try await h.putDiskFromImage(
                "cvm", sku: "server",
                properties: ["securityProfile": ["securityType": "ConfidentialVM_DiskEncryptedWithCustomerKey"]])
            #expect(confidential.status == 400)

            func image(_ set: String) async throws -> HTTPResult {
                try await h.putImage("img", fromDisk: "d1", osDisk: ["diskEncryptionSet": ["id": .string(set)]])
            }
            #expect(try await image(missing).status == 400)
            let kept = try await image(preset)
            #expect(kept.status == 201)
            #expect(
                kept.json?.at("properties", "storageProfile", "osDisk", "diskEncryptionSet", "id")?.stringValue
                    == preset)

            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "d", properties: ["hyperVGeneration": "V1"]))
            func version(_ name: String, _ set: String) async throws -> HTTPResult {
                try await h.putVersion(
                    gallery: "g", definition: "d", version: name, disk: "d1",
                    publishing: [
                        "targetRegions": [
                            ["name": "westus", "encryption": ["osDiskImage": ["diskEncryptionSetId": .string(set)]]]
                        ]
                    ])
            }
            let badVersion = try await version("1.0.0", missing)
            #expect(badVersion.status == 400)
            #expect(
                badVersion.json?.at("error", "target")?.stringValue
                    == "publishingProfile.targetRegions[0].encryption.osDiskImage.diskEncryptionSetId")
            let goodVersion = try await version("1.0.1", preset)
            #expect(goodVersion.status == 201)
            _ = try await h.waitForOperation(goodVersion)
            let read = try await h.send("GET", h.versionPath(gallery: "g", definition: "d", version: "1.0.1"))
            #expect(
                read.json?.at("properties", "publishingProfile", "targetRegions")?.arrayValue?.first?.at(
                    "encryption", "osDiskImage", "diskEncryptionSetId")?.stringValue == preset)
        }
    }
}
