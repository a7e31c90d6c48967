import Foundation
import Testing

@testable import AzureEmulator

/// Several builder VMs on one emulator (`builderVMCount`): each is an ARM resource with its
/// own IMDS identity, device root and LUNs; any identity may detach another VM's disks; a
/// crashed VM keeps its disks in ARM until someone detaches them.
@Suite("Builder VMs")
struct BuilderVMsTests {
    func threeVMs(_ config: inout EmulatorConfiguration) { config.builderVMCount = 3 }

    @Test func threeVMsHaveThreeIdentitiesAndThreeInstanceDocuments() async throws {
        try await withEmulator(threeVMs) { h in
            var vmIDs = Set<String>()
            var clients = Set<String>()
            for vm in 0..<3 {
                let expected = h.configuration.builderVM(at: vm)
                let compute = try #require(try await h.instance(vm: vm).json?["compute"])
                #expect(compute["name"]?.stringValue == expected.name)
                #expect(compute["resourceId"]?.stringValue == h.configuration.builderVMID(at: vm))
                vmIDs.insert(compute["vmId"]?.stringValue ?? "")
                let token = try await h.identityToken(vm: vm)
                let claims = try #require(Harness.claims(token))
                #expect(claims["appid"]?.stringValue == expected.identityClientID)
                #expect(claims["oid"]?.stringValue == expected.identityObjectID)
                clients.insert(expected.identityClientID)
                // Its token works on ARM, and it can read its own VM resource.
                var caller = h
                caller.token = token
                #expect(try await caller.send("GET", h.vmPath(vm)).json?["name"]?.stringValue == expected.name)
                // Blob storage's audience too.
                let storage = try await h.identityToken(vm: vm, resource: "https://storage.azure.com/")
                #expect(Harness.claims(storage)?["aud"]?.stringValue == "https://storage.azure.com/")
            }
            #expect(vmIDs.count == 3 && clients.count == 3)
            #expect(h.configuration.builderVM(at: 2).name == "kiln-builder-2")
            // VM 0 answers under `/_vm/0` too; a VM the emulator does not have is not found.
            let zero = try await h.send(
                "GET", "/_vm/0/metadata/instance/compute/name?api-version=2021-02-01&format=text",
                headers: ["Metadata": "true"], auth: false)
            #expect(zero.text == "kiln-builder")
            #expect(try await h.instance(vm: 3).status == 404)
        }
    }

    @Test func aDiskAttachedToVM2HasItsLinkUnderVM2sDeviceRootOnly() async throws {
        try await withEmulator(threeVMs) { h in
            try await h.createDisk("data")
            #expect(try await h.setDataDisks(vm: 2, [("data", 0)]).json?["status"]?.stringValue == "Succeeded")
            #expect(await h.backend.blob(atLUN: 0, vm: 2) == h.diskID("data").lowercased())
            #expect(await h.backend.blob(atLUN: 0, vm: 0) == nil)
            let devices = try #require(try await h.send("GET", "/_emulator/inventory", auth: false).json?["devices"])
            let link = devices.arrayValue?.first?["lunLink"]?.stringValue
            #expect(devices.arrayValue?.first?["vm"]?.intValue == 2)
            #expect(link == h.stateDirectory.appendingPathComponent("dev-vm2").path + "/disk/azure/scsi1/lun0")
            let disk = try await h.send("GET", h.diskPath("data")).json
            #expect(disk?["managedBy"]?.stringValue == h.configuration.builderVMID(at: 2))
            // VM 2's IMDS lists the disk; VM 0's does not.
            let vm2Disks = try await h.instance(vm: 2).json?.at("compute", "storageProfile", "dataDisks")
            #expect(vm2Disks?.arrayValue?.count == 1)
            let vm0Disks = try await h.instance(vm: 0).json?.at("compute", "storageProfile", "dataDisks")
            #expect(vm0Disks?.arrayValue?.isEmpty == true)
        }
    }

    @Test func lunsAndTheDataDiskLimitCountPerVM() async throws {
        try await withEmulator({ c in
            c.builderVMCount = 2
            c.builderVM.maxDataDisks = 1
        }) { h in
            for name in ["a", "b", "c"] { try await h.createDisk(name) }
            #expect(try await h.setDataDisks(vm: 0, [("a", 0)]).json?["status"]?.stringValue == "Succeeded")
            // The same LUN on another VM, and that VM's own limit of one disk.
            #expect(try await h.setDataDisks(vm: 1, [("b", 0)]).json?["status"]?.stringValue == "Succeeded")
            #expect(await h.backend.blob(atLUN: 0, vm: 1) == h.diskID("b").lowercased())
            let over = try await h.setDataDisks(vm: 1, [("b", 0), ("c", 1)])
            #expect(over.status == 409)
            #expect(over.errorCode == "OperationNotAllowed")
        }
    }

    @Test func vm1sIdentityDetachesADiskFromVM0AndTakesIt() async throws {
        try await withEmulator(threeVMs) { h in
            try await h.createDisk("shared")
            try await h.setDataDisks(vm: 0, [("shared", 3)])
            #expect(await h.backend.blob(atLUN: 3, vm: 0) != nil)
            let vm1 = try await h.identityToken(vm: 1)
            #expect(try await h.setDataDisks(vm: 0, [], as: vm1).json?["status"]?.stringValue == "Succeeded")
            #expect(await h.backend.blob(atLUN: 3, vm: 0) == nil)
            #expect(try await h.send("GET", h.diskPath("shared")).json?["managedBy"] == nil)
            #expect(
                try await h.setDataDisks(vm: 1, [("shared", 0)], as: vm1).json?["status"]?.stringValue == "Succeeded")
            #expect(await h.backend.blob(atLUN: 0, vm: 1) == h.diskID("shared").lowercased())
        }
    }

    @Test func aCrashedVMKeepsItsDisksInARMWithoutDevicesUntilAnotherVMTakesThem() async throws {
        try await withEmulator(threeVMs) { h in
            try await h.createDisk("os")
            try await h.setDataDisks(vm: 0, [("os", 0)])
            let crash = try await h.send("POST", "/_emulator/builder-vms/0/crash", auth: false)
            #expect(crash.status == 200)
            #expect(crash.json?["released"]?.arrayValue?.count == 1)
            #expect(await h.backend.attachedBlobs().isEmpty)
            // ARM still lists the disk on VM 0, as Azure does for a dead VM.
            let vm0 = try await h.send("GET", h.vmPath(0)).json
            #expect(vm0?.at("properties", "storageProfile", "dataDisks")?.arrayValue?.count == 1)
            #expect(
                try await h.send("GET", h.diskPath("os")).json?["managedBy"]?.stringValue
                    == h.configuration.builderVMID(at: 0))
            let listed = try await h.send("GET", "/_emulator/builder-vms", auth: false).json?.arrayValue
            #expect(listed?.map { $0["crashed"]?.boolValue } == [true, false, false])
            // VM 2 detaches it from the dead VM and attaches it to itself.
            let vm2 = try await h.identityToken(vm: 2)
            #expect(try await h.setDataDisks(vm: 0, [], as: vm2).json?["status"]?.stringValue == "Succeeded")
            #expect(try await h.setDataDisks(vm: 2, [("os", 0)], as: vm2).json?["status"]?.stringValue == "Succeeded")
            #expect(await h.backend.attachedBlobs() == [BuilderLUN(vm: 2, lun: 0): h.diskID("os").lowercased()])
            // No such VM: 404 naming how many there are.
            let unknown = try await h.send("POST", "/_emulator/builder-vms/7/crash", auth: false)
            #expect(unknown.status == 404 && unknown.text.contains("has 3"))
        }
    }

    @Test func endpointsListTheBuilderVMsVM0First() async throws {
        try await withEmulator(threeVMs) { h in
            let data = try Data(contentsOf: h.stateDirectory.appendingPathComponent("endpoints.json"))
            let endpoints = try JSONDecoder().decode(EmulatorEndpoints.self, from: data)
            let vms = try #require(endpoints.builderVMs)
            #expect(vms.map(\.index) == [0, 1, 2])
            #expect(vms[0].imds == endpoints.imds && vms[0].deviceRoot == endpoints.deviceRoot)
            #expect(vms[0].id == endpoints.builderVMId)
            #expect(vms[2].imds == endpoints.arm + "/_vm/2")
            #expect(vms[2].deviceRoot == h.stateDirectory.appendingPathComponent("dev-vm2").path)
            #expect(vms[2].name == "kiln-builder-2")
            #expect(vms[2].identityClientId == h.configuration.builderVM(at: 2).identityClientID)
            let control = try await h.send("GET", "/_emulator/builder-vms", auth: false).json?.arrayValue
            #expect(control?.compactMap { $0["imds"]?.stringValue } == vms.map(\.imds))
        }
    }

    @Test func theBuilderVMCountIsAConfigurationKeyOfOneToSixtyFour() throws {
        let decode = { (text: String) in try JSONDecoder().decode(EmulatorConfiguration.self, from: Data(text.utf8)) }
        #expect(try decode("{}").builderVMCount == 1)
        #expect(try decode("{\"builderVMCount\": 4}").builderVMs.count == 4)
        #expect(throws: ConfigurationError.self) { try decode("{\"builderVMCount\": 0}") }
    }
}
