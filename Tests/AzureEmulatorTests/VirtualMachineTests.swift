import Foundation
import Testing

@testable import AzureEmulator

@Suite("Virtual machines: data-disk attach and detach")
struct VirtualMachineTests {
    func dataDisks(_ r: HTTPResult) -> [JSON] {
        r.json?.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []
    }

    @Test func attachByPUTWithIfMatchThenDetachByEmptyList() async throws {
        try await withEmulator { h in
            try await h.createDisk("d0", sizeGB: 4)
            let vm = try await h.vm()
            #expect(vm.status == 200)
            let etag = try #require(vm.header("etag"))
            #expect(vm.json?["etag"]?.stringValue == etag)
            // Echo the GET body with one data disk, as az and packer do.
            var body = try #require(vm.json)
            body.set(
                ["properties", "storageProfile", "dataDisks"],
                [["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("d0"))]]])
            let put = try await h.send("PUT", h.vmPath, json: body, headers: ["If-Match": etag])
            #expect(put.status == 200)
            #expect(put.json?.at("properties", "provisioningState")?.stringValue == "Updating")
            #expect(put.header("etag") != etag)
            let entry = try #require(dataDisks(put).first)
            #expect(entry["name"]?.stringValue == "d0")
            #expect(entry["caching"]?.stringValue == "None")
            #expect(entry["toBeDetached"]?.boolValue == false)
            #expect(entry.at("managedDisk", "storageAccountType")?.stringValue == "Standard_LRS")
            #expect(entry["diskSizeGB"]?.intValue == 4)
            _ = try await h.waitForOperation(put)
            // Attached without anyone needing the VM's LRO: the backend holds it at LUN 0.
            #expect(await h.backend.blob(atLUN: 0) == Emulator.normalizeID(h.diskID("d0")))
            let disk = try await h.send("GET", h.diskPath("d0"))
            #expect(disk.json?.at("properties", "diskState")?.stringValue == "Attached")
            #expect(disk.json?["managedBy"]?.stringValue == h.endpoints.builderVMId)
            #expect(disk.json?.at("properties", "LastOwnershipUpdateTime") != nil)

            let stale = try await h.send("PUT", h.vmPath, json: body, headers: ["If-Match": etag])
            #expect(stale.status == 412)
            #expect(stale.errorCode == "PreconditionFailed")

            let cannotDelete = try await h.send("DELETE", h.diskPath("d0"))
            #expect(cannotDelete.status == 409)
            #expect(cannotDelete.errorCode == "OperationNotAllowed")

            var detach = try #require(try await h.vm().json)
            detach.set(["properties", "storageProfile", "dataDisks"], [])
            let put2 = try await h.send("PUT", h.vmPath, json: detach)
            #expect(put2.status == 200)
            #expect(dataDisks(put2).isEmpty)
            _ = try await h.waitForOperation(put2)
            #expect(await h.backend.blob(atLUN: 0) == nil)
            let after = try await h.send("GET", h.diskPath("d0"))
            #expect(after.json?.at("properties", "diskState")?.stringValue == "Unattached")
            #expect(after.json?["managedBy"] == nil)
        }
    }

    @Test func patchAttachAndToBeDetached() async throws {
        try await withEmulator { h in
            try await h.createDisk("p0")
            try await h.createDisk("p1")
            let attach = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("p0"))]],
                                [
                                    "lun": 3, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("p1"))],
                                    "caching": "ReadOnly"
                                ]
                            ]
                        ]
                    ]
                ])
            #expect(attach.status == 200)
            _ = try await h.waitForOperation(attach)
            #expect(await h.backend.blob(atLUN: 3) == Emulator.normalizeID(h.diskID("p1")))
            var list = dataDisks(try await h.vm())
            #expect(list.count == 2)
            list[1]["toBeDetached"] = true
            let detach = try await h.send(
                "PATCH", h.vmPath, json: ["properties": ["storageProfile": ["dataDisks": .array(list)]]])
            #expect(detach.status == 200)
            _ = try await h.waitForOperation(detach)
            let now = dataDisks(try await h.vm())
            #expect(now.count == 1)
            #expect(now.first?["name"]?.stringValue == "p0")
            #expect(await h.backend.blob(atLUN: 3) == nil)
        }
    }

    @Test func attachErrorsUseAzureCodes() async throws {
        try await withEmulator({ $0.builderVM.maxDataDisks = 2 }) { h in
            for n in ["a", "b", "c", "other"] { try await h.createDisk(n) }
            let first = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("a"))]]
                            ]
                        ]
                    ]
                ])
            _ = try await h.waitForOperation(first)
            // LUN already used by an attached disk
            let conflict = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("a"))]],
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("b"))]]
                            ]
                        ]
                    ]
                ])
            #expect(conflict.status == 400)
            #expect(conflict.errorCode == "InvalidParameter")
            #expect(conflict.json?.at("error", "message")?.stringValue == "A disk at LUN 0 already exists.")
            // too many disks for the size
            let tooMany = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("a"))]],
                                ["lun": 1, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("b"))]],
                                ["lun": 2, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("c"))]]
                            ]
                        ]
                    ]
                ])
            #expect(tooMany.status == 409)
            #expect(tooMany.errorCode == "OperationNotAllowed")
            // LUN out of range
            let range = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 64, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("b"))]]
                            ]
                        ]
                    ]
                ])
            #expect(range.status == 400)
            // a disk owned by another VM
            let otherVM = "\(h.compute)/virtualMachines/other-vm?api-version=2024-07-01"
            let created = try await h.send(
                "PUT", otherVM,
                json: ["location": "westus", "properties": ["hardwareProfile": ["vmSize": "Standard_B2s"]]],
                headers: ["If-None-Match": "*"])
            #expect(created.status == 201)
            _ = try await h.waitForOperation(created)
            let again = try await h.send("PUT", otherVM, json: ["location": "westus"], headers: ["If-None-Match": "*"])
            #expect(again.status == 412)
            let onOther = try await h.send(
                "PATCH", otherVM,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("other"))]]
                            ]
                        ]
                    ]
                ])
            _ = try await h.waitForOperation(onOther)
            let stolen = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("a"))]],
                                ["lun": 1, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("other"))]]
                            ]
                        ]
                    ]
                ])
            #expect(stolen.status == 409)
            #expect(stolen.errorCode == "ConflictingUserInput")
            // a disk that does not exist
            let ghost = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 5, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("ghost"))]]
                            ]
                        ]
                    ]
                ])
            #expect(ghost.status == 404)
        }
    }

    @Test func attachDetachDataDisksActionReturnsTheStorageProfile() async throws {
        try await withEmulator { h in
            try await h.createDisk("x0")
            try await h.createDisk("x1")
            let action = h.attachDetachPath
            let r = try await h.send(
                "POST", action,
                json: [
                    "dataDisksToAttach": [
                        ["diskId": .string(h.diskID("x0"))], ["diskId": .string(h.diskID("x1")), "lun": 5]
                    ]
                ])
            #expect(r.status == 202)
            _ = try await h.waitForOperation(r)
            let result = try await h.send("GET", try #require(r.header("location")))
            #expect(result.status == 200)
            let luns = (result.json?["dataDisks"]?.arrayValue ?? []).compactMap { $0["lun"]?.intValue }
            #expect(luns == [0, 5])
            #expect(result.json?["osDisk"] != nil)
            let d = try await h.send("POST", action, json: ["dataDisksToDetach": [["diskId": .string(h.diskID("x0"))]]])
            #expect(d.status == 202)
            _ = try await h.waitForOperation(d)
            #expect(dataDisks(try await h.vm()).count == 1)
            let empty = try await h.send("POST", action, json: [:])
            #expect(empty.status == 400)
        }
    }

    @Test func detachWhileMountedIsRecordedAsAViolation() async throws {
        try await withEmulator { h in
            try await h.createDisk("busy")
            let a = try await h.patchAttach("busy", lun: 2)
            _ = try await h.waitForOperation(a)
            await h.backend.markBusy(lun: 2)
            let d = try await h.send("PATCH", h.vmPath, json: ["properties": ["storageProfile": ["dataDisks": []]]])
            _ = try await h.waitForOperation(d)
            let inv = try await h.send("GET", "/_emulator/inventory", auth: false)
            let violations = inv.json?["violations"]?.arrayValue ?? []
            #expect(violations.count == 1)
            #expect(violations.first?["message"]?.stringValue?.contains("LUN 2") == true)
        }
    }

    @Test func attachWithLatencyHappensWithoutPolling() async throws {
        try await withEmulator({ $0.latency.attach = 0.3 }) { h in
            try await h.createDisk("lazy")
            let a = try await h.patchAttach("lazy", lun: 1)
            #expect(a.status == 200)
            // Nobody polls; the emulator's timer completes the attach (bounded wait).
            var attached = false
            for _ in 0..<200 {
                if await h.backend.blob(atLUN: 1) != nil {
                    attached = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(attached)
        }
    }

    @Test func imdsListsTheAttachedDataDisksAsStrings() async throws {
        try await withEmulator { h in
            try await h.createDisk("seen", sizeGB: 3)
            let a = try await h.patchAttach("seen", lun: 4)
            _ = try await h.waitForOperation(a)
            let r = try await h.send(
                "GET", "/metadata/instance/compute/storageProfile/dataDisks?api-version=2021-02-01",
                headers: ["Metadata": "true"], auth: false)
            let disk = try #require(r.json?.arrayValue?.first)
            #expect(disk["lun"]?.stringValue == "4")
            #expect(disk["diskSizeGB"]?.stringValue == "3")
            #expect(disk["name"]?.stringValue == "seen")
            #expect(disk.at("managedDisk", "id")?.stringValue == h.diskID("seen"))
        }
    }

    /// `osProfile.adminPassword` and `customData` are write-only (`x-ms-secret`): Azure
    /// never answers them, and neither does the emulator (found by replaying Azure's own
    /// VirtualMachine_Create examples against it).
    @Test func aVMsSecretsAreNeverAnswered() async throws {
        try await withEmulator { h in
            let vm = "\(h.compute)/virtualMachines/with-secret?api-version=2024-07-01"
            let osProfile: JSON = [
                "computerName": "with-secret", "adminUsername": "azureuser", "adminPassword": "Not-4-Logs!",
                "customData": "c2VjcmV0"
            ]
            let created = try await h.send(
                "PUT", vm, json: ["location": "westus", "properties": ["osProfile": osProfile]])
            #expect(created.status == 201)
            let read = try await h.send("GET", vm)
            for answer in [created, read] {
                let text = String(decoding: answer.body, as: UTF8.self)
                #expect(!text.contains("Not-4-Logs!") && !text.contains("c2VjcmV0"), "\(text)")
                #expect(answer.json?.at("properties", "osProfile", "adminUsername")?.stringValue == "azureuser")
            }
        }
    }
}
