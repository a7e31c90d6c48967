import Foundation
import Providers
import TestSupport
import Testing

@Suite("Block devices")
struct BlockDeviceTests {
    @Test func partitionNamesFollowTheKernelConvention() {
        let devices = SystemBlockDevices(deviceRoot: "/dev")
        let sd = AttachedBlockDevice(lun: 0, link: "/dev/disk/azure/scsi1/lun0", path: "/dev/sdc")
        let nvme = AttachedBlockDevice(lun: 1, link: "/dev/disk/azure/data/by-lun/1", path: "/dev/nvme0n3")
        let loop = AttachedBlockDevice(lun: 2, link: "/dev/disk/azure/scsi1/lun2", path: "/dev/loop7")
        #expect(devices.candidatePartitionPaths(1, of: sd) == ["/dev/disk/azure/scsi1/lun0-part1", "/dev/sdc1"])
        #expect(
            devices.candidatePartitionPaths(2, of: nvme) == ["/dev/disk/azure/data/by-lun/1-part2", "/dev/nvme0n3p2"])
        #expect(devices.candidatePartitionPaths(1, of: loop).last == "/dev/loop7p1")
        #expect(devices.candidateLinks(lun: 0) == ["/dev/disk/azure/data/by-lun/0", "/dev/disk/azure/scsi1/lun0"])
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func findsTheLoopDeviceBehindTheSCSILinkAndItsPartitions() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let loop = try await TestLoopDevice.make(in: scratch.path)
        do {
            // One partition, made visible the way the emulator does it (partx, since the
            // kernel here parses no partition tables).
            try await host(
                "printf 'label: dos\\n,\\n' | sfdisk -q \(shellQuote(loop.device)) && partx -a \(shellQuote(loop.device)) || partx -u \(shellQuote(loop.device))"
            )
            let root = "\(scratch.path)/dev"
            try FileManager.default.createDirectory(
                atPath: "\(root)/disk/azure/scsi1", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: "\(root)/disk/azure/scsi1/lun0", withDestinationPath: loop.device)
            let devices = SystemBlockDevices(deviceRoot: root, pollInterval: .milliseconds(20))

            let device = try await devices.waitForDevice(lun: 0, timeout: .seconds(10))
            #expect(device.path == loop.device)
            #expect(device.link == "\(root)/disk/azure/scsi1/lun0")
            // No -part1 link: the loop name ends in a digit, so p1.
            #expect(try await devices.waitForPartition(1, of: device, timeout: .seconds(10)) == loop.device + "p1")
            #expect(try await devices.waitForPartition(nil, of: device, timeout: .seconds(1)) == loop.device)
            // With a -part1 link, the link wins and is resolved.
            try FileManager.default.createSymbolicLink(
                atPath: "\(root)/disk/azure/scsi1/lun0-part1", withDestinationPath: loop.device + "p1")
            #expect(try await devices.waitForPartition(1, of: device, timeout: .seconds(1)) == loop.device + "p1")
        } catch {
            await loop.detach()
            throw error
        }
        await loop.detach()
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func resolvesRelativeNVMeLinksToTheRealDevice() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let loop = try await TestLoopDevice.make(in: scratch.path)
        do {
            let root = "\(scratch.path)/dev"
            let name = (loop.device as NSString).lastPathComponent
            try FileManager.default.createDirectory(
                atPath: "\(root)/disk/azure/data/by-lun", withIntermediateDirectories: true)
            // ROOT/loopN -> /dev/loopN, and the by-lun link relative to it, as udev makes them.
            try FileManager.default.createSymbolicLink(atPath: "\(root)/\(name)", withDestinationPath: loop.device)
            try FileManager.default.createSymbolicLink(
                atPath: "\(root)/disk/azure/data/by-lun/5", withDestinationPath: "../../../../\(name)")
            let devices = SystemBlockDevices(deviceRoot: root + "/", pollInterval: .milliseconds(20))
            let device = try #require(try await devices.device(lun: 5))
            #expect(device.path == loop.device)
            #expect(device.link == "\(root)/disk/azure/data/by-lun/5")
        } catch {
            await loop.detach()
            throw error
        }
        await loop.detach()
    }

    @Test func findsRemoteNVMeNamespacesThroughSysfsWhenNoLinkExists() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let sys = "\(scratch.path)/sys"
        let dev = "\(scratch.path)/dev"
        func namespace(_ name: String, model: String, nsid: Int) throws {
            try scratch.write("sys/block/\(name)/device/model", model + "\n")
            try scratch.write("sys/block/\(name)/nsid", "\(nsid)\n")
            try scratch.write("dev/\(name)", "")
        }
        try namespace("nvme0n1", model: SystemBlockDevices.remoteNVMeModel, nsid: 1)  // the OS disk
        try namespace("nvme0n3", model: SystemBlockDevices.remoteNVMeModel, nsid: 3)  // LUN 1
        try namespace("nvme1n1", model: "Microsoft NVMe Direct Disk v2", nsid: 3)  // a local disk
        try scratch.write("sys/block/nvme0n3p1/device/model", SystemBlockDevices.remoteNVMeModel)
        try scratch.write("dev/nvme0n3p1", "")
        let devices = SystemBlockDevices(deviceRoot: dev, sysfsRoot: sys, pollInterval: .milliseconds(20))

        let device = try #require(try await devices.device(lun: 1))
        #expect(device.path == "\(dev)/nvme0n3")
        #expect(try await devices.waitForPartition(1, of: device, timeout: .seconds(1)) == "\(dev)/nvme0n3p1")
        #expect(try await devices.device(lun: 0) == nil)
        await #expect {
            try await devices.waitForDevice(lun: 0, timeout: .milliseconds(40))
        } throws: { error in
            "\(error)".contains("nsid 2")
        }
        // Without a sysfs root (any device root but /dev), no scan happens.
        #expect(try await SystemBlockDevices(deviceRoot: dev).device(lun: 1) == nil)
    }

    @Test func waitsForTheLinkToGoAfterADetach() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write("sdx", "")
        let root = "\(scratch.path)/dev"
        try FileManager.default.createDirectory(atPath: "\(root)/disk/azure/scsi1", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: "\(root)/disk/azure/scsi1/lun4", withDestinationPath: "\(scratch.path)/sdx")
        let devices = SystemBlockDevices(deviceRoot: root, pollInterval: .milliseconds(20))
        await #expect(throws: BlockDeviceError.self) {
            try await devices.waitForRemoval(lun: 4, timeout: .milliseconds(60))
        }
        let waiter = Task { try await devices.waitForRemoval(lun: 4, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(100))
        try FileManager.default.removeItem(atPath: "\(root)/disk/azure/scsi1/lun4")
        try await waiter.value
    }

    @Test func waitsForALinkThatAppearsLater() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write("fake-sdz", "")
        let root = "\(scratch.path)/dev"
        try FileManager.default.createDirectory(atPath: "\(root)/disk/azure/scsi1", withIntermediateDirectories: true)
        let devices = SystemBlockDevices(deviceRoot: root, pollInterval: .milliseconds(20))
        #expect(try await devices.device(lun: 3) == nil)
        let waiter = Task { try await devices.waitForDevice(lun: 3, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(200))
        try FileManager.default.createSymbolicLink(
            atPath: "\(root)/disk/azure/scsi1/lun3", withDestinationPath: "\(scratch.path)/fake-sdz")
        let device = try await waiter.value
        #expect(device.lun == 3)
        #expect(device.path.hasSuffix("/fake-sdz"))
    }

    @Test func timesOutNamingEveryPathLookedAt() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let devices = SystemBlockDevices(deviceRoot: scratch.path, pollInterval: .milliseconds(20))
        await #expect {
            try await devices.waitForDevice(lun: 9, timeout: .milliseconds(100))
        } throws: { error in
            let text = "\(error)"
            return text.contains("\(scratch.path)/disk/azure/scsi1/lun9")
                && text.contains("\(scratch.path)/disk/azure/data/by-lun/9")
        }
        // A dangling link (udev made the link before the node) is not a device yet.
        try FileManager.default.createDirectory(
            atPath: "\(scratch.path)/disk/azure/scsi1", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: "\(scratch.path)/disk/azure/scsi1/lun9", withDestinationPath: "/nonexistent/sdq")
        #expect(try await devices.device(lun: 9) == nil)
    }

    @Test func probingAMissingDeviceForUseIsAnError() async throws {
        await #expect(throws: BlockDeviceError.self) { try await SystemBlockDevices().isInUse("/nonexistent/kiln-dev") }
    }

    @Test func rejectsLUNsOutsideTheAzureRange() async throws {
        let devices = SystemBlockDevices(deviceRoot: "/nonexistent")
        await #expect(throws: BlockDeviceError.invalidLUN(64)) { try await devices.device(lun: 64) }
        await #expect(throws: BlockDeviceError.invalidLUN(-1)) {
            try await devices.waitForDevice(lun: -1, timeout: .seconds(1))
        }
    }

    @Test func aMissingPartitionTimesOutWithTheCandidates() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write("sdq", "")
        let devices = SystemBlockDevices(deviceRoot: scratch.path, pollInterval: .milliseconds(20))
        let device = AttachedBlockDevice(lun: 0, link: "\(scratch.path)/lun0", path: "\(scratch.path)/sdq")
        await #expect(
            throws: BlockDeviceError.partitionTimedOut(
                partition: 2, device: "\(scratch.path)/sdq", timeout: .milliseconds(60),
                looked: ["\(scratch.path)/lun0-part2", "\(scratch.path)/sdq2"])
        ) {
            try await devices.waitForPartition(2, of: device, timeout: .milliseconds(60))
        }
    }
}

@Suite("InMemoryBlockDevices")
struct InMemoryBlockDevicesTests {
    @Test func aDiskBecomesVisibleAfterSomeProbes() async throws {
        let devices = InMemoryBlockDevices(disks: [
            0: .init(path: "/dev/sdc", partitions: [1: "/dev/sdc1"], visibleAfterProbes: 3)
        ])
        let device = try await devices.waitForDevice(lun: 0, timeout: .seconds(10))
        #expect(device.path == "/dev/sdc")
        #expect(try await devices.waitForPartition(1, of: device, timeout: .seconds(1)) == "/dev/sdc1")
    }

    @Test func errorPaths() async throws {
        let devices = InMemoryBlockDevices(disks: [1: .init(path: "/dev/sdd", visibleAfterProbes: 100)])
        await #expect(throws: BlockDeviceError.self) { try await devices.waitForDevice(lun: 1, timeout: .seconds(5)) }
        await #expect(throws: BlockDeviceError.invalidLUN(99)) { try await devices.device(lun: 99) }
        await devices.attach(lun: 2, .init(path: "/dev/sde"))
        let device = try await devices.waitForDevice(lun: 2, timeout: .zero)
        await #expect(throws: BlockDeviceError.self) {
            try await devices.waitForPartition(1, of: device, timeout: .seconds(1))
        }
        #expect(try await !devices.isInUse("/dev/sde"))
        await devices.setInUse("/dev/sde", true)
        #expect(try await devices.isInUse("/dev/sde"))
        await #expect(throws: BlockDeviceError.self) { try await devices.waitForRemoval(lun: 2, timeout: .seconds(3)) }
        await devices.detach(lun: 2)
        #expect(try await devices.device(lun: 2) == nil)
        try await devices.waitForRemoval(lun: 2, timeout: .zero)
    }
}

@Suite("Waiting on a virtual clock")
struct VirtualClockWaitTests {
    @Test func aLongDeviceWaitTimesOutInVirtualTimeAtTheRightPollCount() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = VirtualClock()
        let devices = SystemBlockDevices(deviceRoot: scratch.path, pollInterval: .seconds(2), clock: clock)
        await #expect(throws: BlockDeviceError.self) { try await devices.waitForDevice(lun: 0, timeout: .seconds(600)) }
        #expect(clock.elapsed == .seconds(600))
        #expect(clock.sleeps.count == 300)
        #expect(Set(clock.sleeps) == [.seconds(2)])
    }

    @Test func theLockWaitUsesTheInjectedClock() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = VirtualClock()
        let path = "\(scratch.path)/lun.lock"
        let held = try FileLock.tryAcquire(path: path, purpose: "holder")
        await #expect(throws: FileLockError.self) {
            _ = try await FileLock.acquire(
                path: path, purpose: "waiter", timeout: .seconds(30), pollInterval: .seconds(1), clock: clock)
        }
        #expect(clock.elapsed == .seconds(30))
        held.release()
    }

    @Test func sleepingOnACancelledTaskThrows() async throws {
        let clock = VirtualClock()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(for: .seconds(1))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(clock.elapsed == .zero)
    }
}

@Suite struct PartitionNamingRules {
    @Test func partitionsFollowTheKernelsNaming() {
        #expect(PartitionNaming.prefix(of: "/dev/sdc") == "/dev/sdc")
        #expect(PartitionNaming.prefix(of: "/dev/loop0") == "/dev/loop0p")
        #expect(PartitionNaming.prefix(of: "/dev/nvme0n2") == "/dev/nvme0n2p")
    }

    /// A mount of /dev/loop10p1 is not on /dev/loop1 (a prefix test said it was).
    @Test func aPathIsOnADeviceOnlyAsItselfOrOneOfItsPartitions() {
        #expect(PartitionNaming.isOnDevice("/dev/loop1", "/dev/loop1"))
        #expect(PartitionNaming.isOnDevice("/dev/loop1p2", "/dev/loop1"))
        #expect(!PartitionNaming.isOnDevice("/dev/loop10p1", "/dev/loop1"))
        #expect(!PartitionNaming.isOnDevice("/dev/loop10", "/dev/loop1"))
        #expect(PartitionNaming.isOnDevice("/dev/sdc1", "/dev/sdc"))
        #expect(!PartitionNaming.isOnDevice("/dev/sdcd1", "/dev/sdc"))
        #expect(!PartitionNaming.isOnDevice("/dev/loop1p", "/dev/loop1"))
    }
}
