import Foundation
import Testing

@testable import AzureEmulator

/// `publishingProfile.replicationMode` (Full, Shallow) and per-region settings.
@Suite("Replication modes and region settings")
struct ReplicationModeTests {
    @Test func shallowVersionsReplicateFasterAndStayInTheirRegion() async throws {
        try await withEmulator({ $0.latency.versionPerRegion = 20 }) { h in
            try await h.createDisk("src", sizeGB: 4)
            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "d", properties: ["hyperVGeneration": "V1"]))
            let elsewhere = try await h.putVersion(
                gallery: "g", definition: "d", version: "0.0.1", disk: "src",
                publishing: ["replicationMode": "Shallow", "targetRegions": [["name": "westus"], ["name": "eastus"]]])
            #expect(elsewhere.status == 400)
            #expect(elsewhere.json?.at("error", "message")?.stringValue?.contains("eastus") == true)
            let replicas = try await h.putVersion(
                gallery: "g", definition: "d", version: "0.0.1", disk: "src",
                publishing: ["replicationMode": "Shallow", "replicaCount": 2])
            #expect(replicas.status == 400)

            let started = Date()
            let shallow = try await h.putVersion(
                gallery: "g", definition: "d", version: "0.0.1", disk: "src",
                publishing: [
                    "replicationMode": "shallow", "targetRegions": [["name": "West US", "regionalReplicaCount": 1]]
                ])
            #expect(shallow.status == 201)
            #expect(shallow.json?.at("properties", "publishingProfile", "replicationMode")?.stringValue == "Shallow")
            let done = try await h.waitForOperation(shallow)
            #expect(done.json?["status"]?.stringValue == "Succeeded")
            // A tenth of versionPerRegion (20 s): done in about 2 s, not 20.
            #expect(Date().timeIntervalSince(started) < 10)
            let path = h.versionPath(gallery: "g", definition: "d", version: "0.0.1")
            #expect(
                try await h.send("GET", path).json?.at("properties", "publishingProfile", "replicationMode")?
                    .stringValue == "Shallow")
            let toFull = try await h.send(
                "PATCH", path,
                json: ["properties": ["publishingProfile": ["replicationMode": "Full"], "storageProfile": [:]]])
            #expect(toFull.status == 409)
            #expect(
                toFull.json?.at("error", "message")?.stringValue
                    == "Changing property 'galleryImageVersion.properties.publishingProfile.replicationMode' is not allowed."
            )
            let grow = try await h.send(
                "PATCH", path,
                json: [
                    "properties": [
                        "publishingProfile": ["targetRegions": [["name": "westus"], ["name": "eastus"]]],
                        "storageProfile": [:]
                    ]
                ])
            #expect(grow.status == 400)

            // A Full version with the same latency is still replicating long after the shallow one ended.
            let full = try await h.putVersion(gallery: "g", definition: "d", version: "0.0.2", disk: "src")
            #expect(full.status == 201)
            try await Task.sleep(for: .seconds(3))
            let status = try await h.send("GET", full.header("azure-asyncoperation") ?? "")
            #expect(status.json?["status"]?.stringValue == "InProgress")
            #expect(
                try await h.send("GET", h.versionPath(gallery: "g", definition: "d", version: "0.0.2")).json?.at(
                    "properties", "publishingProfile", "replicationMode") == nil)
        }
    }

    @Test func perRegionExcludeFromLatestAndPremiumStorageAreKept() async throws {
        try await withEmulator { h in
            try await h.createDisk("src", sizeGB: 4)
            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "d", properties: ["hyperVGeneration": "V1"]))
            let v = try await h.putVersion(
                gallery: "g", definition: "d", version: "1.0.0", disk: "src",
                publishing: [
                    "replicationMode": "Full",
                    "targetRegions": [
                        ["name": "westus", "storageAccountType": "premium_lrs", "excludeFromLatest": true],
                        ["name": "eastus", "regionalReplicaCount": 2]
                    ]
                ])
            #expect(v.status == 201)
            _ = try await h.waitForOperation(v)
            let got = try await h.send("GET", h.versionPath(gallery: "g", definition: "d", version: "1.0.0"))
            let regions = got.json?.at("properties", "publishingProfile", "targetRegions")?.arrayValue ?? []
            #expect(regions.first?["storageAccountType"]?.stringValue == "Premium_LRS")
            #expect(regions.first?["excludeFromLatest"]?.boolValue == true)
            #expect(regions.last?["excludeFromLatest"]?.boolValue == false)
            #expect(regions.last?["regionalReplicaCount"]?.intValue == 2)
            #expect(got.json?.at("properties", "publishingProfile", "replicationMode")?.stringValue == "Full")
        }
    }
}
