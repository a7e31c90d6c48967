import Foundation
import TestSupport
import Testing

@testable import AzureEmulator

#if canImport(Glibc)
    import Glibc
#endif

/// Attaching disks as real loop devices with partitions and `scsi1/lun<N>` links.
/// Every test detaches and unmounts what it set up, passing or failing (the fixture).
@Suite(.tags(.loopDisks), .enabled(if: Privileges.isRoot, rootReason))
struct LoopAttachTests {
    @Test func attachOfPlatformImageGivesLoopDeviceAndRelativeLinks() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV2, to: "os", sizeGB: 1)
            let file = backend.blobPath(id: "os")
            let device = try await backend.attach(id: "os", lun: 0)

            #expect(device.loopDevice.hasPrefix("/dev/loop"))
            #expect(try await loopDevices(on: file).count == 1)
            #expect(device.lunLink == fixture.linkDirectory + "/lun0")
            #expect(device.partitions == [device.loopDevice + "p1", device.loopDevice + "p15"])
            // Relative targets that `readlink -f` resolves to the loop device and partitions.
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: device.lunLink)
            #expect(!target.hasPrefix("/"))
            #expect(resolved(device.lunLink) == device.loopDevice)
            #expect(resolved(fixture.linkDirectory + "/lun0-part1") == device.loopDevice + "p1")
            #expect(resolved(fixture.linkDirectory + "/lun0-part15") == device.loopDevice + "p15")
            // Packer-style resolution: the link's directory joined with its target.
            let joined = (fixture.linkDirectory + "/" + target as NSString).standardizingPath
            #expect(resolved(joined) == device.loopDevice)
            // The partition link is no younger than the LUN link (made first).
            // (Foundation's attributes, which read the link itself: C structs' members in a
            // test trip MemberImportVisibility, their defining module varying between builds.)
            let made = { (path: String) in
                try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
            }
            let part = try #require(try made(fixture.linkDirectory + "/lun0-part1"))
            let whole = try #require(try made(device.lunLink))
            #expect(part <= whole)
            #expect(await backend.attachmentRecords().map(\.lun) == [0])

            let outcome = try await backend.detach(lun: 0)
            #expect(outcome.violation == nil)
            #expect(try await loopDevices(on: file).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.linkDirectory).isEmpty)
            #expect(await backend.attachmentRecords().isEmpty)
        }
    }

    @Test func fileWrittenThroughPartitionIsInTheDiskAfterDetach() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV1, to: "os", sizeGB: nil)
            _ = try await backend.attach(id: "os", lun: 0)
            let mountPoint = try await fixture.mount(fixture.linkDirectory + "/lun0-part1")
            try "written through lun0-part1\n".write(
                toFile: mountPoint + "/root/marker.txt", atomically: false, encoding: .utf8)
            try await fixture.unmount(mountPoint)
            #expect(try await backend.detach(lun: 0).violation == nil)

            let file = backend.blobPath(id: "os")
            let offset = try await partitionOffset(file, number: 1)
            #expect(
                try await readFromImage(file, offset: offset, path: "/root/marker.txt")
                    == "written through lun0-part1\n")
            // The image itself is untouched: the disk was a copy.
            let image = try await backend.imageBuilder.image(for: ubuntuV1)
            let pristine = try await DiskCommand.run(
                "debugfs", ["-R", "stat /root/marker.txt", "\(image)?offset=\(offset)"])
            #expect(pristine.stdout.contains("Inode:") == false)
        }
    }

    @Test func imageRootRunsBusyboxShellInChroot() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV2, to: "os", sizeGB: 2)
            _ = try await backend.attach(id: "os", lun: 1)
            let mountPoint = try await fixture.mount(fixture.linkDirectory + "/lun1-part1")
            let output = try await host(
                "chroot", mountPoint, "/bin/sh", "-c",
                "cat /etc/os-release; echo; id -u; ls /bin | wc -l; readlink /etc/resolv.conf")
            #expect(output.contains("KILN_IMAGE_VERSION=\"24.04.202501010\""))
            #expect(output.contains("KILN_IMAGE_PUBLISHER=\"Canonical\""))
            #expect(output.contains("\n0\n"))
            #expect(output.contains("../run/systemd/resolve/stub-resolv.conf"))
            try await fixture.unmount(mountPoint)
            #expect(try await backend.detach(lun: 1).violation == nil)
        }
    }

    @Test func detachWhileMountedReportsViolationAndStillDetaches() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV1, to: "os", sizeGB: nil)
            let file = backend.blobPath(id: "os")
            _ = try await backend.attach(id: "os", lun: 2)
            let mountPoint = try await fixture.mount(fixture.linkDirectory + "/lun2-part1")

            let outcome = try await backend.detach(lun: 2)
            let violation = try #require(outcome.violation)
            #expect(violation.contains("LUN 2"))
            #expect(violation.contains("EBUSY"))
            #expect(!FileManager.default.fileExists(atPath: fixture.linkDirectory + "/lun2"))
            #expect(!FileManager.default.fileExists(atPath: fixture.linkDirectory + "/lun2-part1"))
            #expect(await backend.attachmentRecords().isEmpty)

            // The kernel frees the device at the last unmount (autoclear).
            try await fixture.unmount(mountPoint)
            var remaining = try await loopDevices(on: file)
            for _ in 0..<100 where !remaining.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
                remaining = try await loopDevices(on: file)
            }
            #expect(remaining.isEmpty)
        }
    }

    @Test func detachAllLeavesNoDeviceAndNoLink() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV2, to: "os", sizeGB: nil)
            try await backend.createEmpty(id: "data", sizeGB: 1)
            let os = try await backend.attach(id: "os", lun: 0)
            let data = try await backend.attach(id: "data", lun: 5)
            #expect(os.loopDevice != data.loopDevice)
            #expect(data.partitions.isEmpty)  // an empty disk has no partition table
            #expect(resolved(fixture.linkDirectory + "/lun5") == data.loopDevice)

            await backend.detachAll()
            #expect(try await loopDevices(on: backend.blobPath(id: "os")).isEmpty)
            #expect(try await loopDevices(on: backend.blobPath(id: "data")).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.linkDirectory).isEmpty)
            #expect(await backend.attachmentRecords().isEmpty)
        }
    }

    @Test func restartedBackendDetachesPreviousAttachment() async throws {
        try await DiskTestFixture.with { fixture in
            try await fixture.backend.createFromPlatformImage(ubuntuV1, to: "os", sizeGB: nil)
            let device = try await fixture.backend.attach(id: "os", lun: 3)

            let restarted = try fixture.restartedBackend()
            let records = await restarted.attachmentRecords()
            #expect(records.map(\.lun) == [3])
            #expect(records.first?.loopDevice == device.loopDevice)
            #expect(resolved(fixture.linkDirectory + "/lun3-part1") == device.loopDevice + "p1")

            #expect(try await restarted.detach(lun: 3).violation == nil)
            #expect(try await loopDevices(on: restarted.blobPath(id: "os")).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.linkDirectory).isEmpty)
        }
    }

    @Test func restartDropsRecordWhoseLoopDeviceWasFreedElsewhere() async throws {
        try await DiskTestFixture.with { fixture in
            try await fixture.backend.createFromPlatformImage(ubuntuV1, to: "os", sizeGB: nil)
            let device = try await fixture.backend.attach(id: "os", lun: 4)
            // Someone frees the device behind the emulator's back (it is ours: test-made).
            try await host("partx", "-d", device.loopDevice)
            try await host("losetup", "-d", device.loopDevice)

            let restarted = try fixture.restartedBackend()
            #expect(await restarted.attachmentRecords().isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.linkDirectory).isEmpty)
            await #expect(throws: DiskBackendError.nothingAttached(lun: 4)) {
                try await restarted.detach(lun: 4)
            }
            // The LUN is free again.
            _ = try await restarted.attach(id: "os", lun: 4)
            await restarted.detachAll()
        }
    }

    @Test func conflictingAttachesAndDeletesAreRefused() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createEmpty(id: "a", sizeGB: 1)
            try await backend.createEmpty(id: "b", sizeGB: 1)
            let first = try await backend.attach(id: "a", lun: 0)
            // The same disk at the same LUN again (a restarted emulator re-attaching) adopts it.
            #expect(try await backend.attach(id: "a", lun: 0) == first)
            #expect(try await loopDevices(on: backend.blobPath(id: "a")).count == 1)
            await #expect(throws: DiskBackendError.lunInUse(lun: 0, by: "a")) {
                _ = try await backend.attach(id: "b", lun: 0)
            }
            await #expect(throws: DiskBackendError.blobAttached(id: "a", lun: 0)) {
                _ = try await backend.attach(id: "a", lun: 1)
            }
            await #expect(throws: DiskBackendError.blobAttached(id: "a", lun: 0)) {
                try await backend.delete(id: "a")
            }
            await #expect(throws: DiskBackendError.nothingAttached(lun: 9)) {
                _ = try await backend.detach(lun: 9)
            }
            // Growing an attached disk reaches the loop device.
            try await backend.resize(id: "a", sizeGB: 2)
            let record = try #require(await backend.attachmentRecords().first)
            let size = try await host("blockdev", "--getsize64", record.loopDevice)
            #expect(size.trimmingCharacters(in: .whitespacesAndNewlines) == "\(2 << 30)")
            await backend.detachAll()
        }
    }

    @Test func detachAllFreesLoopDeviceLeftWithoutRecord() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV1, to: "os", sizeGB: nil)
            let file = backend.blobPath(id: "os")
            // As if the emulator died between `losetup` and writing its record.
            let loop = try await host("losetup", "-P", "-f", "--show", file).trimmingCharacters(
                in: .whitespacesAndNewlines)
            try await host("partx", "-a", loop)
            #expect(await backend.attachmentRecords().isEmpty)
            await backend.detachAll()
            #expect(try await loopDevices(on: file).isEmpty)
        }
    }

    @Test func concurrentAttachesGetDistinctDevicesAndLinks() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createFromPlatformImage(ubuntuV2, to: "image-copy-0", sizeGB: nil)
            for index in 1..<6 { try await backend.copy(from: "image-copy-0", to: "image-copy-\(index)", sizeGB: nil) }
            let devices = try await withThrowingTaskGroup(of: AttachedDevice.self) { group in
                for index in 0..<6 {
                    group.addTask { try await backend.attach(id: "image-copy-\(index)", lun: index + 10) }
                }
                return try await group.reduce(into: [AttachedDevice]()) { $0.append($1) }
            }
            #expect(Set(devices.map(\.loopDevice)).count == 6)
            for index in 0..<6 {
                let loop = resolved(fixture.linkDirectory + "/lun\(index + 10)")
                #expect(LoopDeviceState.isBacked(loop, by: backend.blobPath(id: "image-copy-\(index)")))
                #expect(resolved(fixture.linkDirectory + "/lun\(index + 10)-part1") == loop + "p1")
            }
            await backend.detachAll()
            for index in 0..<6 {
                #expect(try await loopDevices(on: backend.blobPath(id: "image-copy-\(index)")).isEmpty)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.linkDirectory).isEmpty)
        }
    }
}
