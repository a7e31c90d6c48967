import Foundation
import Testing

@testable import AzureEmulator

/// Trusted Launch and confidential security types on disks, snapshots, managed images and
/// gallery versions, and the Arm64 platform image, as Azure answers them (docs/emulator.md,
/// "Security types, architecture and encryption").
@Suite("Security types and architecture")
struct SecurityTypeTests {
    @Test func theArm64PlatformImageAnswersArm64AndItsDisksCarryIt() async throws {
        try await withEmulator { h in
            let version = try await h.send("GET", h.platformImageID(sku: "server-arm64") + "?api-version=2024-07-01")
            #expect(version.status == 200)
            #expect(version.json?.at("properties", "architecture")?.stringValue == "Arm64")
            #expect(version.json?.at("properties", "hyperVGeneration")?.stringValue == "V2")
            let features = version.json?.at("properties", "features")?.arrayValue ?? []
            #expect(features.contains { $0["name"]?.stringValue == "DiskControllerTypes" })
            #expect(!features.contains { $0["name"]?.stringValue == "SecurityType" })
            let disk = try await h.diskFromImage("arm", sku: "server-arm64")
            #expect(disk.at("properties", "supportedCapabilities", "architecture")?.stringValue == "Arm64")
            #expect(await h.backend.platformImagesUsed.first?.architecture == .arm64)
        }
    }

    @Test func aDiskFromATrustedLaunchSupportedImageStaysStandardUnlessAsked() async throws {
        try await withEmulator { h in
            let standard = try await h.diskFromImage("std", sku: "server")
            #expect(standard.at("properties", "securityProfile") == nil)
            let trusted = try await h.diskFromImage(
                "tl", sku: "server", properties: ["securityProfile": ["securityType": "trustedlaunch"]])
            #expect(trusted.at("properties", "securityProfile", "securityType")?.stringValue == "TrustedLaunch")
        }
    }

    @Test func securityTypesTheImageCannotHaveAreRefused() async throws {
        try await withEmulator { h in
            let trusted: JSON = ["securityProfile": ["securityType": "TrustedLaunch"]]
            let gen1 = try await h.putDiskFromImage("g1", sku: "server-gen1", properties: trusted)
            #expect(gen1.status == 400)
            #expect(gen1.errorCode == "BadRequest")
            #expect(
                gen1.json?.at("error", "message")?.stringValue?.hasPrefix(
                    "Use of TrustedLaunch setting is not supported for the provided image") == true)
            let arm = try await h.putDiskFromImage("a1", sku: "server-arm64", properties: trusted)
            #expect(arm.status == 400)
            let confidential = try await h.putDiskFromImage(
                "c1", sku: "server",
                properties: ["securityProfile": ["securityType": "ConfidentialVM_DiskEncryptedWithPlatformKey"]])
            #expect(confidential.status == 400)
            #expect(confidential.json?.at("error", "message")?.stringValue?.contains("ConfidentialVM") == true)
            let v1 = try await h.putDiskFromImage(
                "v1", sku: "server", properties: trusted.merging(["hyperVGeneration": "V1"]))
            #expect(v1.status == 400)
            let empty = try await h.putDisk("e1", extra: ["properties": trusted])
            #expect(empty.status == 400)
            #expect(
                empty.json?.at("error", "message")?.stringValue
                    == "Security Type 'TrustedLaunch' is not supported for CreateOption 'Empty'. Supported create options are FromImage, Import, ImportSecure, UploadPreparedSecure."
            )
            let bogus = try await h.putDiskFromImage(
                "b1", sku: "server", properties: ["securityProfile": ["securityType": "Shielded"]])
            #expect(bogus.status == 400)
            #expect(try await h.send("GET", h.diskPath("g1")).status == 404)
        }
    }

    @Test func copiesKeepTheSecurityTypeAndMayNotSetOne() async throws {
        try await withEmulator { h in
            try await h.diskFromImage(
                "tl", sku: "server", properties: ["securityProfile": ["securityType": "TrustedLaunch"]])
            let snapshotPath = "\(h.compute)/snapshots/s1?api-version=2024-03-02"
            let copy: JSON = ["createOption": "Copy", "sourceResourceId": .string(h.diskID("tl"))]
            let refused = try await h.send(
                "PUT", snapshotPath,
                json: [
                    "location": "westus",
                    "properties": ["creationData": copy, "securityProfile": ["securityType": "TrustedLaunch"]]
                ])
            #expect(refused.status == 400)
            #expect(
                refused.json?.at("error", "message")?.stringValue?.hasPrefix(
                    "Security Type 'TrustedLaunch' is not supported for CreateOption 'Copy'.") == true)
            _ = try await h.waitForOperation(
                try await h.send(
                    "PUT", snapshotPath, json: ["location": "westus", "properties": ["creationData": copy]]))
            let snapshot = try await h.send("GET", snapshotPath)
            #expect(snapshot.json?.at("properties", "securityProfile", "securityType")?.stringValue == "TrustedLaunch")
            let fromSnapshot = try await h.send(
                "PUT", h.diskPath("again"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.snapshotID("s1"))]
                    ]
                ])
            _ = try await h.waitForOperation(fromSnapshot)
            let again = try await h.send("GET", h.diskPath("again"))
            #expect(again.json?.at("properties", "securityProfile", "securityType")?.stringValue == "TrustedLaunch")
            // The security type is fixed once made.
            let change = try await h.send(
                "PATCH", h.diskPath("again"),
                json: ["properties": ["securityProfile": ["securityType": "ConfidentialVM_NonPersistedTPM"]]])
            #expect(change.status == 409)
            #expect(
                change.json?.at("error", "message")?.stringValue
                    == "Changing property 'securityProfile.securityType' is not allowed.")
            let same = try await h.send(
                "PATCH", h.diskPath("again"),
                json: ["properties": ["securityProfile": ["securityType": "TrustedLaunch"]]])
            #expect(same.status == 202)
        }
    }

    @Test func managedImagesRefuseArm64AndTrustedLaunchSources() async throws {
        try await withEmulator { h in
            try await h.diskFromImage("arm", sku: "server-arm64")
            try await h.diskFromImage(
                "tl", sku: "server", properties: ["securityProfile": ["securityType": "TrustedLaunch"]])
            try await h.diskFromImage("std", sku: "server")
            func image(_ name: String, from disk: String) async throws -> HTTPResult {
                try await h.putImage(name, fromDisk: disk)
            }
            let arm = try await image("i-arm", from: "arm")
            #expect(arm.status == 409)
            #expect(
                arm.json?.at("error", "message")?.stringValue
                    == "Creating an image with managedDisk source that has CPU Architecture 'Arm64' is not supported. Please select a source resource with a supported CPU Architecture: 'x64'."
            )
            let trusted = try await image("i-tl", from: "tl")
            #expect(trusted.status == 409)
            #expect(trusted.errorCode == "OperationNotAllowed")
            #expect(try await image("i-std", from: "std").status == 201)
        }
    }

    @Test func versionsMustMatchTheirDefinitionsArchitectureAndSecurityType() async throws {
        try await withEmulator { h in
            try await h.diskFromImage("arm", sku: "server-arm64")
            try await h.diskFromImage(
                "tl", sku: "server", properties: ["securityProfile": ["securityType": "TrustedLaunch"]])
            try await h.diskFromImage("std", sku: "server")
            let supported: JSON = ["features": [["name": "SecurityType", "value": "TrustedLaunchSupported"]]]
            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "x64", properties: supported))
            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "arm", properties: ["architecture": "Arm64"]))
            _ = try await h.waitForOperation(
                try await h.putDefinition(
                    gallery: "g", definition: "tl",
                    properties: ["features": [["name": "SecurityType", "value": "TrustedLaunch"]]]))
            _ = try await h.waitForOperation(
                try await h.putDefinition(
                    gallery: "g", definition: "cvm",
                    properties: ["features": [["name": "SecurityType", "value": "ConfidentialVM"]]]))
            _ = try await h.waitForOperation(try await h.putDefinition(gallery: "g", definition: "plain"))

            let armIntoX64 = try await h.putVersion(gallery: "g", definition: "x64", version: "1.0.0", disk: "arm")
            #expect(armIntoX64.status == 400)
            #expect(armIntoX64.json?.at("error", "message")?.stringValue?.contains("'Arm64'") == true)
            #expect(
                try await h.putVersion(gallery: "g", definition: "arm", version: "1.0.0", disk: "arm").status == 201)
            let trustedIntoSupported = try await h.putVersion(
                gallery: "g", definition: "x64", version: "1.0.1", disk: "tl")
            #expect(trustedIntoSupported.status == 400)
            #expect(
                trustedIntoSupported.json?.at("error", "message")?.stringValue?.hasPrefix(
                    "The security type 'TrustedLaunchSupported' is not supported for the source id") == true)
            #expect(
                try await h.putVersion(gallery: "g", definition: "x64", version: "1.0.2", disk: "std").status == 201)
            #expect(try await h.putVersion(gallery: "g", definition: "tl", version: "1.0.0", disk: "tl").status == 201)
            #expect(
                try await h.putVersion(gallery: "g", definition: "cvm", version: "1.0.0", disk: "std").status == 400)
            #expect(
                try await h.putVersion(gallery: "g", definition: "plain", version: "1.0.0", disk: "tl").status == 400)

            // A disk from a version of a TrustedLaunch definition must be Trusted Launch.
            let versionID = "\(h.compute)/galleries/g/images/tl/versions/1.0.0"
            let plain = try await h.send(
                "PUT", h.diskPath("fromtl"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": [
                            "createOption": "FromImage", "galleryImageReference": ["id": .string(versionID)]
                        ]
                    ]
                ])
            #expect(plain.status == 400)
            #expect(
                plain.json?.at("error", "message")?.stringValue
                    == "The provided gallery image only supports creation of VMs and VM Scale Sets with 'TrustedLaunch' security type."
            )
        }
    }
}
