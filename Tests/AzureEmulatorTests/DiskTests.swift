import Foundation
import Testing

@testable import AzureEmulator

@Suite("Managed disks and snapshots")
struct DiskTests {
    @Test func emptyDiskPutRunsTheLongRunningOperationToSucceeded() async throws {
        try await withEmulator { h in
            let r = try await h.putDisk(
                "data1", sizeGB: 16, extra: ["sku": ["name": "Premium_LRS"], "tags": ["owner": "ci"], "zones": ["1"]])
            #expect(r.status == 202)
            #expect(r.json?.at("properties", "provisioningState")?.stringValue == "Updating")
            let async = try #require(r.header("azure-asyncoperation"))
            #expect(
                async.hasPrefix(
                    h.endpoints.arm
                        + "/subscriptions/\(h.sub)/providers/Microsoft.Compute/locations/westus/DiskOperations/"))
            #expect(async.hasSuffix("api-version=2024-03-02"))
            #expect(r.header("location")?.contains("monitor=true") == true)
            #expect(r.header("retry-after") == "1")
            let done = try await h.waitForOperation(r)
            #expect(done.json?["status"]?.stringValue == "Succeeded")
            #expect(done.json?.at("properties", "output", "name")?.stringValue == "data1")
            let disk = try await h.send("GET", h.diskPath("data1"))
            #expect(disk.status == 200)
            let j = try #require(disk.json)
            #expect(j.at("properties", "provisioningState")?.stringValue == "Succeeded")
            #expect(j.at("properties", "diskState")?.stringValue == "Unattached")
            #expect(j.at("properties", "diskSizeGB")?.intValue == 16)
            #expect(j.at("properties", "diskSizeBytes")?.intValue == 16 * 1_073_741_824)
            #expect(j.at("properties", "tier")?.stringValue == "P3")
            #expect(j.at("sku", "tier")?.stringValue == "Premium")
            #expect(j["tags"]?["owner"]?.stringValue == "ci")
            #expect(j["type"]?.stringValue == "Microsoft.Compute/disks")
            #expect(j["managedBy"] == nil)
            #expect(await h.backend.blobs[Emulator.normalizeID(h.diskID("data1"))] == 16)
        }
    }

    @Test func locationURLAnswers202WhileRunning() async throws {
        // A latency far longer than the test: every check below sees the operation running.
        try await withEmulator({ $0.latency.diskCreate = 3600 }) { h in
            let r = try await h.putDisk("slow")
            let loc = try #require(r.header("location"))
            let first = try await h.send("GET", loc)
            #expect(first.status == 202)
            #expect(first.header("retry-after") == "1")
            #expect(first.header("location") == loc)
            let status = try await h.send("GET", try #require(r.header("azure-asyncoperation")))
            #expect(status.json?["status"]?.stringValue == "InProgress")
            #expect(status.header("retry-after") == "1")
            let during = try await h.send("GET", h.diskPath("slow"))
            #expect(during.json?.at("properties", "provisioningState")?.stringValue == "Updating")
        }
    }

    @Test func locationURLAnswersTheResourceWhenDone() async throws {
        try await withEmulator { h in
            let r = try await h.putDisk("quick")
            _ = try await h.waitForOperation(r)
            let final = try await h.send("GET", try #require(r.header("location")))
            #expect(final.status == 200)
            #expect(final.json?.at("properties", "provisioningState")?.stringValue == "Succeeded")
            #expect(final.json?["name"]?.stringValue == "quick")
        }
    }

    @Test func rePutAnswers200AndGrowsButNeverShrinks() async throws {
        try await withEmulator { h in
            try await h.createDisk("d", sizeGB: 8)
            let again = try await h.putDisk("d", sizeGB: 8)
            #expect(again.status == 200)
            _ = try await h.waitForOperation(again)
            let grow = try await h.send(
                "PATCH", h.diskPath("d"), json: ["properties": ["diskSizeGB": 20], "tags": ["a": "b"]])
            #expect(grow.status == 202)
            _ = try await h.waitForOperation(grow)
            let got = try await h.send("GET", h.diskPath("d"))
            #expect(got.json?.at("properties", "diskSizeGB")?.intValue == 20)
            #expect(got.json?["tags"]?["a"]?.stringValue == "b")
            #expect(await h.backend.blobs[Emulator.normalizeID(h.diskID("d"))] == 20)
            let shrink = try await h.send("PATCH", h.diskPath("d"), json: ["properties": ["diskSizeGB": 4]])
            #expect(shrink.status == 409)
            #expect(shrink.errorCode == "OperationNotAllowed")
            let option = try await h.send(
                "PUT", h.diskPath("d"),
                json: [
                    "location": "westus",
                    "properties": ["creationData": ["createOption": "Copy", "sourceResourceId": .string(h.diskID("x"))]]
                ])
            #expect(option.errorCode == "PropertyChangeNotAllowed")
        }
    }

    @Test func emptyNeedsASizeAndCopyNeedsAnExistingSource() async throws {
        try await withEmulator { h in
            let noSize = try await h.send(
                "PUT", h.diskPath("e"),
                json: ["location": "westus", "properties": ["creationData": ["createOption": "Empty"]]])
            #expect(noSize.status == 400)
            #expect(noSize.errorCode == "InvalidParameter")
            let noLocation = try await h.send(
                "PUT", h.diskPath("e"),
                json: ["properties": ["creationData": ["createOption": "Empty"], "diskSizeGB": 1]])
            #expect(noLocation.errorCode == "LocationRequired")
            let missing = try await h.send(
                "PUT", h.diskPath("e"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.diskID("ghost"))]
                    ]
                ])
            #expect(missing.status == 404)
            let badName = try await h.putDisk("bad name!")
            #expect(badName.status == 400)
        }
    }

    @Test func copyFromDiskAndSnapshotKeepsSizeAndLineage() async throws {
        try await withEmulator { h in
            let src = try await h.createDisk("src", sizeGB: 10)
            let snapPath = "\(h.compute)/snapshots/snap1?api-version=2019-11-01"
            let snap = try await h.send(
                "PUT", snapPath,
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.diskID("SRC"))],
                        "incremental": true
                    ]
                ])
            #expect(snap.status == 202)
            #expect(snap.header("azure-asyncoperation")?.contains("api-version=2019-11-01") == true)
            _ = try await h.waitForOperation(snap)
            let s = try await h.send("GET", snapPath)
            #expect(s.json?["type"]?.stringValue == "Microsoft.Compute/snapshots")
            #expect(s.json?.at("properties", "incremental")?.boolValue == true)
            #expect(s.json?.at("properties", "incrementalSnapshotFamilyId") != nil)
            #expect(s.json?.at("properties", "creationData", "sourceUniqueId") == src.at("properties", "uniqueId"))
            #expect(s.json?.at("properties", "creationData", "sourceResourceId")?.stringValue == h.diskID("SRC"))
            #expect(s.json?.at("properties", "diskSizeGB")?.intValue == 10)
            let copy = try await h.send(
                "PUT", h.diskPath("fromsnap"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "Copy", "sourceResourceId": .string(h.snapshotID("snap1"))],
                        "diskSizeGB": 12
                    ]
                ])
            #expect(copy.status == 202)
            _ = try await h.waitForOperation(copy)
            let d = try await h.send("GET", h.diskPath("fromsnap"))
            #expect(d.json?.at("properties", "diskSizeGB")?.intValue == 12)
            let list = try await h.send(
                "GET", "/subscriptions/\(h.sub)/providers/Microsoft.Compute/snapshots?api-version=2024-03-02")
            #expect(list.json?["value"]?.arrayValue?.count == 1)
        }
    }

    @Test func fromPlatformImageFillsOSTypeAndGeneration() async throws {
        try await withEmulator { h in
            let gen1 =
                "/Subscriptions/\(h.sub)/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/server-gen1/Versions/24.04.202501010"
            let r = try await h.send(
                "PUT", h.diskPath("os1", api: "2019-11-01"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "FromImage", "imageReference": ["id": .string(gen1)]]
                    ]
                ])
            #expect(r.status == 202)
            _ = try await h.waitForOperation(r)
            let d = try await h.send("GET", h.diskPath("os1"))
            #expect(d.json?.at("properties", "hyperVGeneration")?.stringValue == "V1")
            #expect(d.json?.at("properties", "osType")?.stringValue == "Linux")
            #expect(d.json?.at("properties", "diskSizeGB")?.intValue == 30)
            #expect(d.json?.at("properties", "creationData", "imageReference", "id")?.stringValue == gen1)
            #expect(await h.backend.platformImagesUsed.first?.sku == "server-gen1")
            let unknown = gen1.replacingOccurrences(of: "24.04.202501010", with: "1.2.3")
            let bad = try await h.send(
                "PUT", h.diskPath("os2"),
                json: [
                    "location": "westus",
                    "properties": [
                        "creationData": ["createOption": "FromImage", "imageReference": ["id": .string(unknown)]]
                    ]
                ])
            #expect(bad.status == 404)
            #expect(bad.errorCode == "PlatformImageNotFound")
        }
    }

    @Test func deleteIs202ThenMissingIs204() async throws {
        try await withEmulator { h in
            try await h.createDisk("gone")
            let del = try await h.send("DELETE", h.diskPath("gone"))
            #expect(del.status == 202)
            #expect(del.header("location") != nil)
            let done = try await h.waitForOperation(del)
            #expect(done.json?["status"]?.stringValue == "Succeeded")
            #expect(try await h.send("GET", h.diskPath("gone")).status == 404)
            #expect(try await h.send("DELETE", h.diskPath("gone")).status == 204)
            #expect(await h.backend.blobs[Emulator.normalizeID(h.diskID("gone"))] == nil)
        }
    }

    @Test func sasAccessIsALongRunningAction() async throws {
        try await withEmulator { h in
            try await h.createDisk("sas")
            let begin = try await h.send(
                "POST", "\(h.compute)/disks/sas/beginGetAccess?api-version=2024-03-02",
                json: ["access": "Read", "durationInSeconds": 3600])
            #expect(begin.status == 202)
            _ = try await h.waitForOperation(begin)
            let result = try await h.send("GET", try #require(begin.header("location")))
            #expect(result.json?["accessSAS"]?.stringValue?.hasPrefix("https://") == true)
            #expect(
                try await h.send("GET", h.diskPath("sas")).json?.at("properties", "diskState")?.stringValue
                    == "ActiveSAS")
            let end = try await h.send("POST", "\(h.compute)/disks/sas/endGetAccess?api-version=2019-11-01")
            #expect(end.status == 202)
            _ = try await h.waitForOperation(end)
            #expect(
                try await h.send("GET", h.diskPath("sas")).json?.at("properties", "diskState")?.stringValue
                    == "Unattached")
        }
    }
}
