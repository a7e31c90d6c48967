import Foundation
import Testing

@testable import AzureEmulator

/// How a data-disk change plays out over time, and what may read the disk meanwhile
/// (docs/emulator.md "Attach, detach and captures over time").
@Suite("Virtual machines: the timing of attach and detach, and captures from attached disks")
struct DataDiskTimingTests {
    func luns(_ r: HTTPResult) -> [Int] {
        (r.json?.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []).compactMap { $0["lun"]?.intValue }
    }

    func imageBody(_ h: Harness, disk: String) -> JSON {
        [
            "location": "westus",
            "properties": [
                "storageProfile": [
                    "osDisk": [
                        "osType": "Linux", "osState": "Generalized", "managedDisk": ["id": .string(h.diskID(disk))]
                    ]
                ]
            ]
        ]
    }

    @Test func theModelChangesAtOnceAndTheDiskAndDeviceFollowAtTheOperationsEnd() async throws {
        // Long enough that the checks made while each operation runs (a few requests) come
        // before its end even on a loaded machine (0.6 s was not, with the suite in parallel).
        try await withEmulator({
            $0.latency.attach = 4
            $0.latency.detach = 4
        }) { h in
            try await h.createDisk("cap", sizeGB: 4)
            let action = h.attachDetachPath
            let attach = try await h.send(
                "POST", action, json: ["dataDisksToAttach": [["diskId": .string(h.diskID("cap")), "lun": 3]]])
            #expect(attach.status == 202)
            // The VM's model lists the disk at once (provisioning Updating) ...
            let during = try await h.vm()
            #expect(luns(during) == [3])
            #expect(during.json?.at("properties", "provisioningState")?.stringValue == "Updating")
            // ... while the disk is not owned yet and no device has appeared.
            let disk = try await h.send("GET", h.diskPath("cap"))
            #expect(disk.json?["managedBy"] == nil)
            #expect(disk.json?.at("properties", "diskState")?.stringValue == "Unattached")
            #expect(await h.backend.blob(atLUN: 3) == nil)
            _ = try await h.waitForOperation(attach)
            let owned = try await h.send("GET", h.diskPath("cap"))
            #expect(owned.json?["managedBy"]?.stringValue == h.endpoints.builderVMId)
            #expect(await h.backend.blob(atLUN: 3) != nil)

            // An image straight from the attached disk is accepted (Azure captures it as it is).
            let fromAttached = try await h.send(
                "PUT", "\(h.compute)/images/attached?api-version=2024-07-01", json: imageBody(h, disk: "cap"))
            #expect(fromAttached.status == 201)

            let detach = try await h.send(
                "POST", action, json: ["dataDisksToDetach": [["diskId": .string(h.diskID("cap"))]]])
            #expect(detach.status == 202)
            // Gone from the model at once; the disk stays owned, and undeletable, until the end.
            #expect(luns(try await h.vm()).isEmpty)
            let detaching = try await h.send("GET", h.diskPath("cap"))
            #expect(detaching.json?["managedBy"]?.stringValue == h.endpoints.builderVMId)
            let tooSoon = try await h.send("DELETE", h.diskPath("cap"))
            #expect(tooSoon.status == 409)
            #expect(tooSoon.errorCode == "OperationNotAllowed")
            // An image from a disk whose detach is still running is accepted too (Packer's way).
            let whileDetaching = try await h.send(
                "PUT", "\(h.compute)/images/detaching?api-version=2024-07-01", json: imageBody(h, disk: "cap"))
            #expect(whileDetaching.status == 201)
            #expect(await h.backend.blob(atLUN: 3) != nil)
            _ = try await h.waitForOperation(detach)
            #expect(await h.backend.blob(atLUN: 3) == nil)
            let released = try await h.send("GET", h.diskPath("cap"))
            #expect(released.json?["managedBy"] == nil)
            #expect(released.json?.at("properties", "diskState")?.stringValue == "Unattached")
            let inventory = try await h.send("GET", "/_emulator/inventory", auth: false)
            #expect(inventory.json?["violations"]?.arrayValue?.isEmpty == true)
        }
    }

    /// Replaces the builder VM's data disks by a whole-VM PUT of the GET body, as Packer does.
    func putDataDisks(_ h: Harness, _ disks: [(name: String, lun: Int)]) async throws -> HTTPResult {
        var body = try #require(try await h.vm().json)
        body.set(
            ["properties", "storageProfile", "dataDisks"],
            .array(
                disks.map {
                    ["lun": JSON($0.lun), "createOption": "Attach", "managedDisk": ["id": .string(h.diskID($0.name))]]
                }))
        return try await h.send("PUT", h.vmPath, json: body)
    }

    func operationStatus(_ h: Harness, _ r: HTTPResult) async throws -> String? {
        try await h.waitForOperation(r).json?["status"]?.stringValue
    }

    /// A detach accepted while the disk's attach still runs (detach latency < attach latency)
    /// used to complete first and leave the disk on its device, owned, with the VM's model
    /// empty (seen with two Packer runs in a row, /tmp/lunbug/REPORT.md).
    @Test func aDetachAcceptedWhileTheAttachRunsTakesEffectAfterIt() async throws {
        try await withEmulator({
            $0.latency.attach = 0.6
            $0.latency.detach = 0.2
        }) { h in
            try await h.createDisk("y", sizeGB: 4)
            let attach = try await putDataDisks(h, [("y", 0)])
            #expect(attach.status == 200)
            let detach = try await putDataDisks(h, [])
            #expect(detach.status == 200)
            #expect(try await operationStatus(h, detach) == "Succeeded")
            #expect(try await operationStatus(h, attach) == "Succeeded")
            #expect(await h.backend.blob(atLUN: 0) == nil)
            let disk = try await h.send("GET", h.diskPath("y"))
            #expect(disk.json?["managedBy"] == nil)
            #expect(disk.json?.at("properties", "diskState")?.stringValue == "Unattached")
            #expect(try await h.send("DELETE", h.diskPath("y")).status == 202)
            let inventory = try await h.send("GET", "/_emulator/inventory", auth: false)
            #expect(inventory.json?["devices"]?.arrayValue?.isEmpty == true)
        }
    }

    /// The same with the attachDetachDataDisks action.
    @Test func aDetachActionAcceptedWhileTheAttachActionRunsTakesEffectAfterIt() async throws {
        try await withEmulator({
            $0.latency.attach = 0.6
            $0.latency.detach = 0.2
        }) { h in
            try await h.createDisk("y", sizeGB: 4)
            let action = h.attachDetachPath
            let attach = try await h.send(
                "POST", action, json: ["dataDisksToAttach": [["diskId": .string(h.diskID("y")), "lun": 0]]])
            let detach = try await h.send(
                "POST", action, json: ["dataDisksToDetach": [["diskId": .string(h.diskID("y"))]]])
            #expect(try await operationStatus(h, detach) == "Succeeded")
            #expect(try await operationStatus(h, attach) == "Succeeded")
            #expect(await h.backend.blob(atLUN: 0) == nil)
            #expect(try await h.send("GET", h.diskPath("y")).json?["managedBy"] == nil)
        }
    }

    /// A LUN freed in the model while its disk's detach still runs can take another disk at
    /// once; that attach takes effect after the detach even when its latency is shorter.
    @Test func anAttachAtALUNWhoseDetachStillRunsWaitsForIt() async throws {
        try await withEmulator({
            $0.latency.attach = 0.2
            $0.latency.detach = 0.6
        }) { h in
            try await h.createDisk("x", sizeGB: 4)
            try await h.createDisk("y", sizeGB: 4)
            _ = try await h.waitForOperation(try await putDataDisks(h, [("x", 0)]))
            let detachX = try await putDataDisks(h, [])
            let attachY = try await putDataDisks(h, [("y", 0)])
            #expect(attachY.status == 200)
            #expect(try await operationStatus(h, attachY) == "Succeeded")
            #expect(try await operationStatus(h, detachX) == "Succeeded")
            #expect(await h.backend.blob(atLUN: 0) == Emulator.normalizeID(h.diskID("y")))
            #expect(try await h.send("GET", h.diskPath("x")).json?["managedBy"] == nil)
            #expect(try await h.send("GET", h.diskPath("y")).json?["managedBy"]?.stringValue == h.endpoints.builderVMId)
        }
    }

    @Test func aCaptureOfADiskStillMountedIsRecordedAsAViolation() async throws {
        try await withEmulator { h in
            try await h.createDisk("mounted", sizeGB: 4)
            let a = try await h.patchAttach("mounted", lun: 1)
            _ = try await h.waitForOperation(a)
            await h.backend.markBusy(lun: 1)
            let image = try await h.send(
                "PUT", "\(h.compute)/images/inuse?api-version=2024-07-01", json: imageBody(h, disk: "mounted"))
            #expect(image.status == 201)
            let inventory = try await h.send("GET", "/_emulator/inventory", auth: false)
            let messages = (inventory.json?["violations"]?.arrayValue ?? []).compactMap { $0["message"]?.stringValue }
            #expect(messages.count == 1)
            #expect(messages.first?.contains("images/inuse") == true && messages.first?.contains("in use") == true)
        }
    }
}
