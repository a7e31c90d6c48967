import Foundation
import Testing

@testable import AzureEmulator

@Suite("Managed images, galleries and image versions, platform images")
struct GalleryAndImageTests {
    @Test func managedImageFromDiskAndSnapshotThenDiskFromIt() async throws {
        try await withEmulator { h in
            try await h.createDisk("os", sizeGB: 30)
            try await h.createDisk("data", sizeGB: 5)
            let img = "\(h.compute)/images/img1?api-version=2019-12-01"
            let r = try await h.send(
                "PUT", img,
                json: [
                    "location": "westus",
                    "properties": [
                        "hyperVGeneration": "V2",
                        "storageProfile": [
                            "osDisk": [
                                "osType": "Linux", "osState": "Generalized",
                                "managedDisk": ["id": .string(h.diskID("os"))], "storageAccountType": "Standard_LRS"
                            ],
                            "dataDisks": [["lun": 1, "managedDisk": ["id": .string(h.diskID("data"))]]]
                        ]
                    ]
                ])
            #expect(r.status == 201)
            #expect(r.json?.at("properties", "provisioningState")?.stringValue == "Creating")
            #expect(r.header("azure-asyncoperation")?.contains("/operations/") == true)
            _ = try await h.waitForOperation(r)
            let got = try await h.send("GET", img)
            #expect(got.json?.at("properties", "provisioningState")?.stringValue == "Succeeded")
            #expect(got.json?.at("properties", "storageProfile", "osDisk", "caching")?.stringValue == "ReadWrite")
            #expect(got.json?.at("properties", "storageProfile", "osDisk", "diskSizeGB")?.intValue == 30)
            #expect(
                got.json?.at("properties", "storageProfile", "dataDisks")?.arrayValue?.first?["diskSizeGB"]?.intValue
                    == 5)
            // a disk from the image's data disk 1
            let imgID = "\(h.compute)/images/img1"
            let d = try await h.send(
                "PUT", h.diskPath("fromimg"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": [
                            "createOption": "FromImage", "imageReference": ["id": .string(imgID), "lun": 1]
                        ]
                    ]
                ])
            #expect(d.status == 202)
            _ = try await h.waitForOperation(d)
            #expect(try await h.send("GET", h.diskPath("fromimg")).json?.at("properties", "diskSizeGB")?.intValue == 5)
            let missing = try await h.send(
                "PUT", "\(h.compute)/images/img2?api-version=2019-12-01",
                json: [
                    "location": "westus",
                    "properties": [
                        "storageProfile": [
                            "osDisk": [
                                "osType": "Linux", "osState": "Generalized",
                                "snapshot": ["id": .string(h.snapshotID("nope"))]
                            ]
                        ]
                    ]
                ])
            #expect(missing.status == 404)
            let del = try await h.send("DELETE", img)
            #expect(del.status == 202)
        }
    }

    @Test func galleryDefinitionAndVersionWithReplicationStatus() async throws {
        try await withEmulator({ $0.latency.versionPerRegion = 30 }) { h in
            try await h.createDisk("osd", sizeGB: 30)
            let snapPath = "\(h.compute)/snapshots/s1?api-version=2024-03-02"
            let snap = try await h.send(
                "PUT", snapPath,
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.diskID("osd"))]
                    ]
                ])
            _ = try await h.waitForOperation(snap)
            let gal = "\(h.compute)/galleries/gal1?api-version=2024-03-03"
            let g = try await h.send("PUT", gal, json: ["location": "westus", "properties": ["description": "test"]])
            #expect(g.status == 201)
            #expect(g.header("azure-asyncoperation")?.contains("/capsOperations/") == true)
            _ = try await h.waitForOperation(g)
            #expect(
                try await h.send("GET", gal).json?.at("properties", "identifier", "uniqueName")?.stringValue
                    == "\(h.sub)-GAL1")
            let badGallery = try await h.send(
                "PUT", "\(h.compute)/galleries/has-hyphen?api-version=2024-03-03", json: ["location": "westus"])
            #expect(badGallery.status == 400)

            let def = "\(h.compute)/galleries/gal1/images/def1?api-version=2024-03-03"
            let noOS = try await h.send(
                "PUT", def,
                json: [
                    "location": "westus",
                    "properties": ["osState": "Generalized", "identifier": ["publisher": "p", "offer": "o", "sku": "s"]]
                ])
            #expect(noOS.status == 400)
            let d = try await h.send(
                "PUT", def,
                json: [
                    "location": "westus",
                    "properties": [
                        "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V1",
                        "identifier": ["publisher": "p", "offer": "o", "sku": "s"]
                    ]
                ])
            #expect(d.status == 201)
            _ = try await h.waitForOperation(d)
            let orphan = try await h.send(
                "PUT", "\(h.compute)/galleries/nogal/images/def1?api-version=2024-03-03",
                json: [
                    "location": "westus",
                    "properties": [
                        "osType": "Linux", "osState": "Generalized",
                        "identifier": ["publisher": "p", "offer": "o", "sku": "s"]
                    ]
                ])
            #expect(orphan.errorCode == "ParentResourceNotFound")

            let ver = "\(h.compute)/galleries/gal1/images/def1/versions/1.0.0?api-version=2024-03-03"
            let v = try await h.send(
                "PUT", ver,
                json: [
                    "location": "westus",
                    "properties": [
                        "publishingProfile": [
                            "targetRegions": [["name": "westus", "regionalReplicaCount": 1], ["name": "eastus"]]
                        ],
                        "storageProfile": ["osDiskImage": ["source": ["id": .string(h.snapshotID("s1"))]]]
                    ]
                ])
            #expect(v.status == 201)
            #expect(v.json?.at("properties", "provisioningState")?.stringValue == "Creating")
            #expect(v.json?.at("properties", "storageProfile", "osDiskImage", "sizeInGB")?.intValue == 30)
            let plain = try await h.send("GET", ver)
            #expect(plain.json?.at("properties", "replicationStatus") == nil)
            let expanded = try await h.send("GET", ver + "&$expand=ReplicationStatus")
            let rs = try #require(expanded.json?.at("properties", "replicationStatus"))
            #expect(rs["aggregatedState"]?.stringValue == "InProgress")
            #expect(rs["summary"]?.arrayValue?.count == 2)
            #expect(rs["summary"]?.arrayValue?.first?["state"]?.stringValue == "Replicating")
            let status = try await h.send("GET", try #require(v.header("azure-asyncoperation")))
            #expect(status.json?["status"]?.stringValue == "InProgress")
            let badName = try await h.send(
                "PUT", "\(h.compute)/galleries/gal1/images/def1/versions/latest?api-version=2024-03-03",
                json: ["location": "westus", "properties": ["storageProfile": [:]]])
            #expect(badName.status == 400)
            let versions = try await h.send(
                "GET", "\(h.compute)/galleries/gal1/images/def1/versions?api-version=2024-03-03")
            #expect(versions.json?["value"]?.arrayValue?.count == 1)
            let nonEmpty = try await h.send("DELETE", "\(h.compute)/galleries/gal1?api-version=2024-03-03")
            #expect(nonEmpty.status == 409)
        }
    }

    @Test func versionReplicationCompletesAndADiskCanBeMadeFromIt() async throws {
        try await withEmulator({ $0.latency.versionPerRegion = 0.2 }) { h in
            try await h.createDisk("osd2", sizeGB: 30)
            try await h.createDisk("dd2", sizeGB: 2)
            try await h.createDefinition(gallery: "g2", definition: "d2")
            let ver = "\(h.compute)/galleries/g2/images/d2/versions/2.0.1?api-version=2024-03-03"
            let v = try await h.send(
                "PUT", ver,
                json: [
                    "location": "westus",
                    "properties": [
                        "storageProfile": [
                            "osDiskImage": ["source": ["id": .string(h.diskID("osd2"))]],
                            "dataDiskImages": [["lun": 0, "source": ["id": .string(h.diskID("dd2"))]]]
                        ]
                    ]
                ])
            let done = try await h.waitForOperation(v)
            #expect(done.json?["status"]?.stringValue == "Succeeded")
            let rs = try await h.send("GET", ver + "&$expand=replicationstatus")
            #expect(rs.json?.at("properties", "replicationStatus", "aggregatedState")?.stringValue == "Completed")
            #expect(
                rs.json?.at("properties", "replicationStatus", "summary")?.arrayValue?.first?["progress"]?.intValue
                    == 100)
            let versionID = "\(h.compute)/galleries/g2/images/d2/versions/2.0.1"
            let disk = try await h.send(
                "PUT", h.diskPath("fromver"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": [
                            "createOption": "FromImage", "galleryImageReference": ["id": .string(versionID), "lun": 0]
                        ]
                    ]
                ])
            #expect(disk.status == 202)
            _ = try await h.waitForOperation(disk)
            #expect(try await h.send("GET", h.diskPath("fromver")).json?.at("properties", "diskSizeGB")?.intValue == 2)
            let profile: JSON = ["targetRegions": [["name": "westus"], ["name": "northeurope"]]]
            // `GalleryImageVersionUpdate` requires storageProfile, as Azure does.
            let refused = try await h.send("PATCH", ver, json: ["properties": ["publishingProfile": profile]])
            #expect(refused.status == 400)
            #expect(refused.json?.at("error", "message")?.stringValue?.contains("storageProfile") == true)
            let patch = try await h.send(
                "PATCH", ver, json: ["properties": ["publishingProfile": profile, "storageProfile": [:]]])
            #expect(patch.status == 200)
            _ = try await h.waitForOperation(patch)
            let rs2 = try await h.send("GET", ver + "&$expand=ReplicationStatus")
            #expect(rs2.json?.at("properties", "replicationStatus", "summary")?.arrayValue?.count == 2)
            #expect(
                try await h.waitForOperation(try await h.send("DELETE", ver)).json?["status"]?.stringValue
                    == "Succeeded")
            #expect(try await h.send("GET", ver).status == 404)
        }
    }

    @Test func versionFromAManagedImageCarriesItsDataDisks() async throws {
        try await withEmulator { h in
            try await h.createDisk("mos", sizeGB: 30)
            try await h.createDisk("mdata", sizeGB: 3)
            let img = try await h.send(
                "PUT", "\(h.compute)/images/mimg?api-version=2024-07-01",
                json: [
                    "location": "westus",
                    "properties": [
                        "storageProfile": [
                            "osDisk": [
                                "osType": "Linux", "osState": "Generalized",
                                "managedDisk": ["id": .string(h.diskID("mos"))]
                            ],
                            "dataDisks": [["lun": 2, "managedDisk": ["id": .string(h.diskID("mdata"))]]]
                        ]
                    ]
                ])
            _ = try await h.waitForOperation(img)
            try await h.createDefinition(gallery: "g3", definition: "d3")
            let v = try await h.send(
                "PUT", "\(h.compute)/galleries/g3/images/d3/versions/1.2.3?api-version=2019-12-01",
                json: [
                    "location": "westus",
                    "properties": [
                        "storageProfile": ["source": ["id": .string("\(h.compute)/images/mimg")]]
                    ]
                ])
            #expect(v.status == 201)
            #expect(
                v.json?.at("properties", "storageProfile", "dataDiskImages")?.arrayValue?.first?["lun"]?.intValue == 2)
            #expect(
                v.json?.at("properties", "storageProfile", "dataDiskImages")?.arrayValue?.first?["sizeInGB"]?.intValue
                    == 3)
            #expect(
                v.json?.at("properties", "publishingProfile", "targetRegions")?.arrayValue?.first?["name"]?.stringValue
                    == "westus")
            _ = try await h.waitForOperation(v)
            let blobs = await h.backend.blobs.keys.filter { $0.contains("/versions/1.2.3/") }.sorted()
            #expect(blobs.count == 2)
        }
    }

    @Test func platformImageListsAreBareArraysInNumericOrder() async throws {
        try await withEmulator({ c in
            c.platformImages.append(
                PlatformImage(
                    publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "24.04.202410010",
                    hyperVGeneration: "V2"))
        }) { h in
            let base = "/subscriptions/\(h.sub)/providers/Microsoft.Compute/locations/westus/publishers"
            let pubs = try await h.send("GET", "\(base)?api-version=2024-07-01")
            #expect(pubs.json?.arrayValue?.map { $0["name"]?.stringValue } == ["Canonical"])
            let offers = try await h.send(
                "GET", "\(base)/canonical/artifacttypes/vmimage/offers?api-version=2024-07-01")
            #expect(offers.json?.arrayValue?.count == 1)
            let skus = try await h.send(
                "GET", "\(base)/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus?api-version=2024-07-01")
            #expect(
                skus.json?.arrayValue?.compactMap { $0["name"]?.stringValue } == [
                    "server", "server-arm64", "server-gen1"
                ])
            let versionsPath = "\(base)/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions"
            let all = try await h.send("GET", "\(versionsPath)?api-version=2019-12-01")
            #expect(
                all.json?.arrayValue?.compactMap { $0["name"]?.stringValue } == [
                    "24.04.202410010", "24.04.202501010", "24.04.202502010"
                ])
            let latest = try await h.send("GET", "\(versionsPath)?%24orderby=name+desc&%24top=1&api-version=2019-12-01")
            #expect(latest.json?.arrayValue?.count == 1)
            #expect(latest.json?.arrayValue?.first?["name"]?.stringValue == "24.04.202502010")
            #expect(latest.json?.arrayValue?.first?["id"]?.stringValue?.hasPrefix("/Subscriptions/") == true)
            let one = try await h.send("GET", "\(versionsPath)/24.04.202501010?api-version=2024-07-01")
            #expect(one.json?.at("properties", "hyperVGeneration")?.stringValue == "V2")
            #expect(one.json?.at("properties", "osDiskImage", "operatingSystem")?.stringValue == "Linux")
            let none = try await h.send("GET", "\(versionsPath)/9.9.9?api-version=2024-07-01")
            #expect(none.status == 404)
        }
    }

    @Test func resourcesCanBeListedByTag() async throws {
        try await withEmulator { h in
            _ = try await h.waitForOperation(try await h.putDisk("t1", extra: ["tags": ["kiln": "yes"]]))
            _ = try await h.waitForOperation(try await h.putDisk("t2", extra: ["tags": ["kiln": "no"]]))
            _ = try await h.waitForOperation(try await h.putDisk("t3"))
            let base = "/subscriptions/\(h.sub)/resourceGroups/\(h.rg)/resources"
            let byName = try await h.send("GET", "\(base)?%24filter=tagName%20eq%20%27kiln%27&api-version=2021-04-01")
            #expect(byName.json?["value"]?.arrayValue?.count == 2)
            let byValue = try await h.send(
                "GET",
                "\(base)?%24filter=tagName%20eq%20%27kiln%27%20and%20tagValue%20eq%20%27yes%27&api-version=2021-04-01")
            let items = byValue.json?["value"]?.arrayValue ?? []
            #expect(items.count == 1)
            #expect(items.first?["type"]?.stringValue == "Microsoft.Compute/disks")
            // As ARM: a list filtered by tag does not carry the tags; an unfiltered one does.
            #expect(items.first?["tags"] == nil)
            let all = try await h.send("GET", "\(base)?api-version=2021-04-01")
            let t1 = all.json?["value"]?.arrayValue?.first { $0["name"]?.stringValue == "t1" }
            #expect(t1?["tags"]?["kiln"]?.stringValue == "yes")
            let bad = try await h.send("GET", "\(base)?%24filter=weird&api-version=2021-04-01")
            #expect(bad.status == 400)
        }
    }

    /// Azure refuses a version whose OS source has another Hyper-V generation than its
    /// definition (409), where the emulator used to make it (issue 14).
    @Test func aVersionFromASourceOfAnotherGenerationIsRefused() async throws {
        try await withEmulator { h in
            try await h.createDisk("gen1")  // no hyperVGeneration: V1
            let gallery = try await h.createDefinition(gallery: "gen", definition: "v2def", generation: "V2")
            let refused = try await h.send(
                "PUT", "\(gallery)/versions/1.0.0?api-version=2024-03-03",
                json: [
                    "location": "westus",
                    "properties": ["storageProfile": ["osDiskImage": ["source": ["id": .string(h.diskID("gen1"))]]]]
                ])
            #expect(refused.status == 409)
            #expect(
                refused.json?.at("error", "message")?.stringValue?.contains("different Hypervisor generation") == true)
        }
    }
}
