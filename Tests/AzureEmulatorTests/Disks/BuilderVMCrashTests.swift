import Foundation
import TestSupport
import Testing

@testable import AzureEmulator

/// Builder VMs with real loop devices: each VM's links under its own device root, and a
/// VM's crash taking its mounts and devices with it while ARM keeps its disks.
@Suite(.tags(.loopDisks), .enabled(if: Privileges.isRoot, rootReason))
struct BuilderVMCrashTests {
    /// An emulator of two builder VMs on the fixture's loop backend and device root.
    func withTwoVMs(_ body: (Harness, DiskTestFixture) async throws -> Void) async throws {
        try await DiskTestFixture.with { fixture in
            let h = try await Harness.start(
                stateDirectory: URL(fileURLWithPath: fixture.root + "/emulator"), backend: fixture.backend
            ) { config in
                config.builderVMCount = 2
                config.deviceRoot = fixture.deviceRoot
                config.tls = false
                config.proxy = false
            }
            do { try await body(h, fixture) } catch {
                await h.stop()
                throw error
            }
            await h.stop()
        }
    }

    func scsi(_ root: String) -> String { root + "/disk/azure/scsi1" }

    @Test func aDiskAttachedToVM1IsALoopDeviceLinkedUnderVM1sDeviceRootOnly() async throws {
        try await withTwoVMs { h, fixture in
            try await h.createDisk("data", sizeGB: 1)
            try await h.setDataDisks(vm: 1, [("data", 0)])
            let vm1Root = BuilderVM.deviceRoot(ofVM: 1, base: fixture.deviceRoot)
            let device = resolved(scsi(vm1Root) + "/lun0")
            #expect(device.hasPrefix("/dev/loop"))
            #expect(!FileManager.default.fileExists(atPath: scsi(fixture.deviceRoot) + "/lun0"))
            try await h.setDataDisks(vm: 1, [])
            #expect(!FileManager.default.fileExists(atPath: scsi(vm1Root) + "/lun0"))
            #expect(await Leaks.loopDevices(backedUnder: URL(fileURLWithPath: fixture.root)).isEmpty)
        }
    }

    @Test func aCrashUnmountsVM0sDiskAndWhatIsBeneathItAndLeavesNoLoopDevice() async throws {
        try await withTwoVMs { h, fixture in
            try await h.createDisk("work", sizeGB: 1)
            try await h.setDataDisks(vm: 0, [("work", 0)])
            let lun = scsi(fixture.deviceRoot) + "/lun0"
            let device = resolved(lun)
            try await host("mkfs.ext4", "-q", "-F", device)
            // The disk mounted as a chroot would be, with a bind mount beneath it.
            let point = try await fixture.mount(device)
            let bindSource = fixture.root + "/bind-source"
            try FileManager.default.createDirectory(atPath: bindSource, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: point + "/proc", withIntermediateDirectories: true)
            try await host("mount", "--bind", bindSource, point + "/proc")
            try "survives the crash\n".write(toFile: point + "/marker", atomically: false, encoding: .utf8)
            try await host("sync")

            let crash = try await h.send("POST", "/_emulator/builder-vms/0/crash", auth: false)
            #expect(crash.status == 200)
            #expect(crash.json?["unmounted"]?.arrayValue?.compactMap(\.stringValue) == [point + "/proc", point])
            #expect(crash.json?["problems"]?.arrayValue?.isEmpty == true)
            #expect(await Leaks.mounts(containing: point).isEmpty)
            #expect(await Leaks.loopDevices(backedUnder: URL(fileURLWithPath: fixture.root)).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: lun))
            // ARM keeps the disk on the dead VM.
            #expect(
                try await h.send("GET", h.diskPath("work")).json?["managedBy"]?.stringValue
                    == h.configuration.builderVMID(at: 0))

            // VM 1 takes it over: detach from VM 0, attach to itself, and the file is there.
            let vm1 = try await h.identityToken(vm: 1)
            #expect(try await h.setDataDisks(vm: 0, [], as: vm1).json?["status"]?.stringValue == "Succeeded")
            #expect(try await h.setDataDisks(vm: 1, [("work", 2)], as: vm1).json?["status"]?.stringValue == "Succeeded")
            let taken = scsi(BuilderVM.deviceRoot(ofVM: 1, base: fixture.deviceRoot)) + "/lun2"
            let again = try await fixture.mount(resolved(taken))
            #expect(try String(contentsOfFile: again + "/marker", encoding: .utf8) == "survives the crash\n")
            try await fixture.unmount(again)
            try await h.setDataDisks(vm: 1, [], as: vm1)
            #expect(await Leaks.loopDevices(backedUnder: URL(fileURLWithPath: fixture.root)).isEmpty)
        }
    }
}
