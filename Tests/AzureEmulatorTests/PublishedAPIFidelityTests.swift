import Foundation
import Testing

@testable import AzureEmulator

/// Where replaying Azure's own examples (Tests/AzureSpecs/replay.py) and the Azure CLI found
/// the emulator kinder than Azure or silent about what it ignored (issue 14,
/// Tests/AzureSpecs/FINDINGS.md). Each test fails on the emulator as it was before.
@Suite("Published API fidelity")
struct PublishedAPIFidelityTests {
    static let gen2Image =
        "/Subscriptions/00000000-0000-0000-0000-000000000000/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/server/Versions/24.04.202501010"

    func platformImageID(_ h: Harness) -> String {
        Self.gen2Image.replacingOccurrences(of: "00000000-0000-0000-0000-000000000000", with: h.sub)
    }

    func fromImage(_ h: Harness, sizeGB: Int?) -> JSON {
        var properties: JSON = [
            "creationData": ["createOption": "FromImage", "imageReference": ["id": .string(platformImageID(h))]]
        ]
        if let sizeGB { properties["diskSizeGB"] = JSON(sizeGB) }
        return ["location": "westus", "properties": properties]
    }

    @Test func aDiskSmallerThanItsPlatformImageIsRefusedAndNoSizeMeansTheImagesSize() async throws {
        try await withEmulator { h in
            let small = try await h.send("PUT", h.diskPath("small"), json: fromImage(h, sizeGB: 10))
            #expect(small.status == 409)
            #expect(small.errorCode == "OperationNotAllowed")
            #expect(small.json?.at("error", "message")?.stringValue?.contains("smaller than the size") == true)
            #expect(try await h.send("GET", h.diskPath("small")).status == 404)

            let sized = try await h.send("PUT", h.diskPath("sized"), json: fromImage(h, sizeGB: nil))
            #expect(sized.status == 202)
            _ = try await h.waitForOperation(sized)
            let disk = try await h.send("GET", h.diskPath("sized"))
            #expect(disk.json?.at("properties", "diskSizeGB")?.intValue == 30)

            let larger = try await h.send("PUT", h.diskPath("larger"), json: fromImage(h, sizeGB: 64))
            #expect(larger.status == 202)
        }
    }

    @Test func aCopySmallerThanItsSourceIsRefused() async throws {
        try await withEmulator { h in
            try await h.createDisk("source", sizeGB: 16)
            let copy = try await h.send(
                "PUT", h.diskPath("copy"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.diskID("source"))],
                        "diskSizeGB": 8
                    ]
                ])
            #expect(copy.status == 409)
            #expect(copy.errorCode == "OperationNotAllowed")
        }
    }

    @Test func communityAndSharedGalleryReferencesAreNamedAsNotEmulated() async throws {
        try await withEmulator { h in
            for kind in ["communityGalleryImageId", "sharedGalleryImageId"] {
                let r = try await h.send(
                    "PUT", h.diskPath("shared"),
                    json: [
                        "location": "westus",
                        "properties": [
                            "creationData": [
                                "createOption": "FromImage",
                                "galleryImageReference": [kind: "/CommunityGalleries/x/Images/y"]
                            ]
                        ]
                    ])
                #expect(r.status == 400)
                let message = r.json?.at("error", "message")?.stringValue ?? ""
                #expect(message.contains(kind) && message.contains("not supported by this emulator"), "\(message)")
            }
        }
    }

    @Test func aDiskKeepsItsExtendedLocation() async throws {
        try await withEmulator { h in
            let edge: JSON = ["type": "EdgeZone", "name": "microsoftlosangeles1"]
            let r = try await h.putDisk("edge", extra: ["extendedLocation": edge])
            #expect(r.status == 202)
            _ = try await h.waitForOperation(r)
            #expect(try await h.send("GET", h.diskPath("edge")).json?["extendedLocation"] == edge)
            let wrong = try await h.putDisk("edge2", extra: ["extendedLocation": ["type": "Region", "name": "x"]])
            #expect(wrong.status == 400)
        }
    }

    @Test func aGalleryKeepsItsManagedIdentityWithTheIdsAzureAssigns() async throws {
        try await withEmulator { h in
            let userIdentity =
                "/subscriptions/\(h.sub)/resourceGroups/\(h.rg)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai"
            let path = "\(h.compute)/galleries/withid?api-version=2024-03-03"
            let put = try await h.send(
                "PUT", path,
                json: [
                    "location": "westus",
                    "identity": [
                        "type": "SystemAssigned, UserAssigned",
                        "userAssignedIdentities": [userIdentity: [:]]
                    ]
                ])
            #expect(put.status == 201)
            _ = try await h.waitForOperation(put)
            let identity = try #require(try await h.send("GET", path).json?["identity"])
            #expect(identity["type"]?.stringValue == "SystemAssigned, UserAssigned")
            #expect(identity["tenantId"]?.stringValue == h.configuration.tenant)
            #expect(UUID(uuidString: identity["principalId"]?.stringValue ?? "") != nil)
            let user = identity["userAssignedIdentities"]?[userIdentity]
            #expect(UUID(uuidString: user?["clientId"]?.stringValue ?? "") != nil)
            #expect(UUID(uuidString: user?["principalId"]?.stringValue ?? "") != nil)

            let bad = try await h.send(
                "PUT", "\(h.compute)/galleries/badid?api-version=2024-03-03",
                json: ["location": "westus", "identity": ["type": "Everything"]])
            #expect(bad.status == 400)
        }
    }

    /// A gallery with a V2 definition `def` and two V2 disks, `one` (returned) and `two`.
    func galleryWithSource(_ h: Harness) async throws -> (definition: String, source: String) {
        let definition = try await h.createDefinition(gallery: "fid", definition: "def", generation: "V2")
        for name in ["one", "two"] {
            _ = try await h.waitForOperation(
                try await h.putDisk(name, extra: ["properties": ["osType": "Linux", "hyperVGeneration": "V2"]]))
        }
        return (definition, h.diskID("one"))
    }

    @Test func anUpdateNamingAnotherSourceIsRefusedAndTheSameSourceIsFine() async throws {
        try await withEmulator { h in
            let (definition, _) = try await galleryWithSource(h)
            let version = "\(definition)/versions/1.0.0?api-version=2024-03-03"
            func storage(_ disk: String) -> JSON { ["osDiskImage": ["source": ["id": .string(h.diskID(disk))]]] }
            let made = try await h.send(
                "PUT", version, json: ["location": "westus", "properties": ["storageProfile": storage("one")]])
            #expect(made.status == 201)
            _ = try await h.waitForOperation(made)

            let changed = try await h.send("PATCH", version, json: ["properties": ["storageProfile": storage("two")]])
            #expect(changed.status == 409)
            #expect(changed.errorCode == "PropertyChangeNotAllowed")
            #expect(
                changed.json?.at("error", "target")?.stringValue
                    == "galleryImageVersion.properties.storageProfile.osDiskImage.source.id")
            let same = try await h.send("PATCH", version, json: ["properties": ["storageProfile": storage("one")]])
            #expect(same.status == 200)
        }
    }

    @Test func aWholeSourceTakesPerDiskCachingButNotPerDiskSources() async throws {
        try await withEmulator { h in
            let (definition, source) = try await galleryWithSource(h)
            let image = "\(h.compute)/images/img"
            _ = try await h.waitForOperation(
                try await h.send(
                    "PUT", "\(image)?api-version=2024-07-01",
                    json: [
                        "location": "westus",
                        "properties": [
                            "hyperVGeneration": "V2",
                            "storageProfile": [
                                "osDisk": [
                                    "osType": "Linux", "osState": "Generalized",
                                    "managedDisk": ["id": .string(source)]
                                ],
                                "dataDisks": [["lun": 1, "managedDisk": ["id": .string(h.diskID("two"))]]]
                            ]
                        ]
                    ]))
            let mixed = try await h.send(
                "PUT", "\(definition)/versions/1.0.0?api-version=2024-03-03",
                json: [
                    "location": "westus",
                    "properties": [
                        "storageProfile": [
                            "source": ["id": .string(image)],
                            "osDiskImage": ["source": ["id": .string(source)]]
                        ]
                    ]
                ])
            #expect(mixed.status == 400)
            #expect(mixed.json?.at("error", "message")?.stringValue?.contains("either directly") == true)

            let caching = try await h.send(
                "PUT", "\(definition)/versions/1.0.1?api-version=2024-03-03",
                json: [
                    "location": "westus",
                    "properties": [
                        "storageProfile": [
                            "source": ["id": .string(image)],
                            "dataDiskImages": [["lun": 1, "hostCaching": "ReadOnly"]]
                        ]
                    ]
                ])
            #expect(caching.status == 201, "\(caching.text)")
            let disks = caching.json?.at("properties", "storageProfile", "dataDiskImages")?.arrayValue ?? []
            #expect(disks.first?["hostCaching"]?.stringValue == "ReadOnly")
            #expect(disks.first?["lun"]?.intValue == 1)
        }
    }

    @Test func theVersionsListWithPropertiesIsABareArrayAtEveryApiVersion() async throws {
        try await withEmulator { h in
            let list =
                "/subscriptions/\(h.sub)/providers/Microsoft.Compute/locations/westus/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions?$expand=properties&api-version="
            // A bare array at every api-version, 2024-11-01 included (whose specification
            // says otherwise; see Emulator+PlatformImages.swift).
            for api in ["2022-11-01", "2024-07-01", "2024-11-01", "2025-04-01"] {
                let r = try await h.send("GET", list + api)
                let items = try #require(r.json?.arrayValue, "\(api): \(r.text)")
                #expect(items.first?.at("properties", "osDiskImage", "operatingSystem")?.stringValue == "Linux")
            }
        }
    }

    @Test func resourceListsExpandTheirTimesAndStateOnlyWhenAsked() async throws {
        try await withEmulator { h in
            try await h.createDisk("timed")
            let base = "/subscriptions/\(h.sub)/resourceGroups/\(h.rg)/resources?api-version=2021-04-01"
            func item(_ query: String) async throws -> JSON? {
                let r = try await h.send("GET", base + query + "&$filter=name%20eq%20'timed'")
                #expect(r.status == 200, "\(r.text)")
                return r.json?["value"]?.arrayValue?.first
            }
            let plain = try #require(try await item(""))
            #expect(plain["createdTime"] == nil && plain["changedTime"] == nil && plain["provisioningState"] == nil)
            let expanded = try #require(try await item("&$expand=createdTime,changedTime,provisioningState"))
            let created = try #require(expanded["createdTime"]?.stringValue)
            let changed = try #require(expanded["changedTime"]?.stringValue)
            #expect(expanded["provisioningState"]?.stringValue == "Succeeded")
            #expect(ISO8601DateFormatter.fractional.date(from: created) != nil)

            try await Task.sleep(for: .milliseconds(20))
            _ = try await h.waitForOperation(
                try await h.send("PATCH", h.diskPath("timed"), json: ["tags": ["changed": "yes"]]))
            let later = try #require(try await item("&$expand=createdTime,changedTime"))
            #expect(later["createdTime"]?.stringValue == created)
            #expect((later["changedTime"]?.stringValue ?? "") > changed)
            #expect(later["provisioningState"] == nil)

            let bad = try await h.send("GET", base + "&$expand=everything")
            #expect(bad.status == 400)
        }
    }

    @Test func enumValuesComeBackInAzuresCasing() async throws {
        try await withEmulator { h in
            let r = try await h.putDisk(
                "cased",
                extra: [
                    "sku": ["name": "premium_lrs"],
                    "properties": ["osType": "linux", "hyperVGeneration": "v2"],
                    "tags": ["osType": "linux"]
                ])
            #expect(r.status == 202)
            #expect(r.json?.at("properties", "osType")?.stringValue == "Linux")
            #expect(r.json?.at("properties", "hyperVGeneration")?.stringValue == "V2")
            #expect(r.json?.at("sku", "name")?.stringValue == "Premium_LRS")
            #expect(r.json?.at("tags", "osType")?.stringValue == "linux")
        }
    }
}

extension ISO8601DateFormatter {
    static var fractional: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}

extension PublishedAPIFidelityTests {
    /// A version made from another version takes that version's definition's generation,
    /// never its gallery's (a gallery has none, so it read as V1): the table is unordered, so
    /// each of ten versions would have had the chance to be refused.
    @Test func aVersionFromAnotherVersionTakesItsDefinitionsGeneration() async throws {
        try await withEmulator { h in
            _ = try await h.waitForOperation(
                try await h.putDisk("v2", extra: ["properties": ["osType": "Linux", "hyperVGeneration": "V2"]]))
            // Ten galleries, each its own set of keys in the table, so that its order differs.
            for i in 0..<10 {
                let first = try await h.createDefinition(gallery: "layers\(i)", definition: "base", generation: "V2")
                let base = "\(first)/versions/1.0.0"
                _ = try await h.waitForOperation(
                    try await h.send(
                        "PUT", "\(base)?api-version=2024-03-03",
                        json: [
                            "location": "westus",
                            "properties": [
                                "storageProfile": ["osDiskImage": ["source": ["id": .string(h.diskID("v2"))]]]
                            ]
                        ]))
                let next = try await h.createDefinition(gallery: "layers\(i)", definition: "next", generation: "V2")
                let r = try await h.send(
                    "PUT", "\(next)/versions/1.0.0?api-version=2024-03-03",
                    json: ["location": "westus", "properties": ["storageProfile": ["source": ["id": .string(base)]]]])
                #expect(r.status == 201, "\(i): \(r.text)")
            }
        }
    }
}
