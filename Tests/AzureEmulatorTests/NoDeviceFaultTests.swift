import Foundation
import Testing

@testable import AzureEmulator

/// The `noDevice` fault: the attach succeeds in ARM but the disk's `lun<N>` links do not
/// appear until the rule is removed.
@Suite("noDevice fault")
struct NoDeviceFaultTests {
    /// The in-memory backend plus the device links a real attach makes (to /dev/null), so
    /// the fault has links to hide without loop devices or root.
    actor LinkingBackend: WrappedDiskBackend {
        let inner: InMemoryDiskBackend
        let directory: String
        init(deviceRoot: String) {
            inner = InMemoryDiskBackend(deviceRoot: deviceRoot)
            directory = deviceRoot + "/disk/azure/scsi1"
        }
        func attach(id: String, lun: Int, vm: Int) async throws -> AttachedDevice {
            let device = try await inner.attach(id: id, lun: lun, vm: vm)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            symlink("/dev/null", "\(directory)/lun\(lun)-part1")
            symlink("/dev/null", "\(directory)/lun\(lun)")
            return device
        }
        func detach(lun: Int, vm: Int) async throws -> DetachOutcome {
            unlink("\(directory)/lun\(lun)")
            unlink("\(directory)/lun\(lun)-part1")
            return try await inner.detach(lun: lun, vm: vm)
        }
    }

    func linkExists(_ path: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
    }

    @Test func theDeviceLinksAppearOnlyOnceTheRuleIsGone() async throws {
        let dir = Harness.freshDirectory()
        let backend = LinkingBackend(deviceRoot: dir.appendingPathComponent("dev").path)
        let h = try await Harness.start(stateDirectory: dir, backend: backend)
        do {
            let links = dir.appendingPathComponent("dev/disk/azure/scsi1").path
            try await h.createDisk("hidden")
            let set = try await h.send(
                "POST", "/_emulator/faults", json: ["kind": "noDevice", "path": "*/disks/hidden"], auth: false)
            #expect(set.status == 200)
            let attach = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 2, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("hidden"))]]
                            ]
                        ]
                    ]
                ])
            #expect(attach.status == 200)
            let done = try await h.waitForOperation(attach)
            #expect(done.json?["status"]?.stringValue == "Succeeded")
            // Attached in ARM, but no device links.
            let disk = try await h.send("GET", h.diskPath("hidden"))
            #expect(disk.json?.at("properties", "diskState")?.stringValue == "Attached")
            #expect(!linkExists("\(links)/lun2"))
            #expect(!linkExists("\(links)/lun2-part1"))
            // The rule removed: the links appear, partitions included.
            let cleared = try await h.send("DELETE", "/_emulator/faults", auth: false)
            #expect(cleared.status == 204)
            #expect(linkExists("\(links)/lun2"))
            #expect(linkExists("\(links)/lun2-part1"))
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    @Test func aRuleForAnotherDiskLeavesTheDeviceAlone() async throws {
        let dir = Harness.freshDirectory()
        let backend = LinkingBackend(deviceRoot: dir.appendingPathComponent("dev").path)
        let h = try await Harness.start(stateDirectory: dir, backend: backend)
        do {
            try await h.createDisk("shown")
            _ = try await h.send(
                "POST", "/_emulator/faults", json: ["kind": "noDevice", "path": "*/disks/other"], auth: false)
            let attach = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("shown"))]]
                            ]
                        ]
                    ]
                ])
            _ = try await h.waitForOperation(attach)
            #expect(linkExists(dir.appendingPathComponent("dev/disk/azure/scsi1/lun0").path))
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }
}
