import Foundation
import Model
import Planner
import Providers
import Testing

@testable import Reconciler

@Suite struct VMHostCommandTests {
    @Test func preMountRendersTheDeviceQuotedAndSetsTheKilnVariables() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    disk:
                      dataDisks: [{lun: 1, sizeGB: 4}]
                    mount:
                      preMountCommands:
                        - sgdisk -n 1:0:0 {{.Device}} && mkfs.ext4 {{.Device}}1
                        - echo {{env "LABEL"}} {{.BuildName}}
                """, osDevice: "/dev/disk by/sdc", processEnvironment: ["LABEL": "a b; rm -rf /"])
        try await f.run(.preMount)
        #expect(
            await f.runner.commands == [
                "sgdisk -n 1:0:0 '/dev/disk by/sdc' && mkfs.ext4 '/dev/disk by/sdc'1",
                "echo 'a b; rm -rf /' vmx"
            ])
        let environment = try #require(await f.runner.specs.first?.environment)
        #expect(environment["KILN_DEVICE"] == "/dev/disk by/sdc")
        #expect(environment["KILN_DATA_DEVICE_1"] == "/dev/sdd")
        #expect(environment["KILN_BUILD"] == "vmx")
        #expect(environment["KILN_MOUNT_PATH"] == nil)
        #expect(f.progress.details.count == 2)
    }

    /// `{{.Device}}1` names no partition of a loop or NVMe device (`/dev/loop01`);
    /// `KILN_PARTITION_PREFIX` follows the kernel's naming for every kind.
    @Test(arguments: [("/dev/sdc", "/dev/sdc"), ("/dev/loop0", "/dev/loop0p"), ("/dev/nvme0n2", "/dev/nvme0n2p")])
    func preMountGivesThePartitionPrefixOfTheDevice(device: String, prefix: String) async throws {
        let f = try await VMExecutorFixture(
            build: """
                    mount:
                      preMountCommands: ['mkfs.ext4 "${KILN_PARTITION_PREFIX}1"']
                """, osDevice: device)
        try await f.run(.preMount)
        #expect(await f.runner.specs.first?.environment["KILN_PARTITION_PREFIX"] == prefix)
    }

    @Test func hostCommandsGoThroughTheCommandWrapper() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    mount:
                      postMountCommands: ['touch {{.MountPath}}/x']
                """, wrapper: CommandWrapper { "sudo -n sh -c \(shellQuote($0))" })
        try await f.run(.postMount)
        #expect(await f.runner.commands == ["sudo -n sh -c 'touch \(f.root)/x'"])
        #expect(await f.runner.specs.first?.environment["KILN_MOUNT_PATH"] == f.root)
    }

    @Test func aFailingHostCommandStopsTheRestAndCarriesItsOutput() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    mount:
                      preUnmountCommands: ['fstrim {{.MountPath}}', 'echo never']
                """)
        await f.runner.on("fstrim", respond: .exit(1, stdout: ["trimming"], stderr: ["fstrim: not supported"]))
        let error = await #expect(throws: CommandRunnerError.self) { try await f.run(.preUnmount) }
        let failure = ActionFailure(action: ActionID("vmx", .preUnmount), error: try #require(error))
        #expect(failure.command == "fstrim /mnt/kiln/vmx")
        #expect(failure.outputTail == ["trimming", "fstrim: not supported"])
        #expect(await f.runner.commands.count == 1)
    }

    @Test func noCommandsMeansNothingRuns() async throws {
        let f = try await VMExecutorFixture()
        #expect(try await f.run(.preMount) == ActionOutcome.none)
        #expect(await f.runner.commands.isEmpty)
    }
}

@Suite struct VMMountTests {
    @Test func mountsTheRootPartitionWithItsOptionsAndIsIdempotent() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    mount: {options: [noatime, 'nouuid,ro']}
                """)
        let outcome = try await f.run(.mount)
        #expect(outcome.mountPath == f.root)
        #expect(outcome.device == "/dev/sdc1")
        #expect(await f.mounts.log == ["mount -o noatime -o nouuid,ro /dev/sdc1 \(f.root)"])
        #expect(await f.mounts.table.entry(at: f.root)?.source == "/dev/sdc1")

        try await f.run(.mount)
        #expect(await f.mounts.log.count == 1)
    }

    @Test func wholeDiskAndDataDisksInsideTheRoot() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    disk:
                      dataDisks: [{lun: 1, sizeGB: 4, mountPath: /var/data}]
                    mount: {partition: whole}
                """)
        try await f.run(.mount)
        #expect(await f.mounts.log == ["mount /dev/sdc \(f.root)", "mount /dev/sdd \(f.root)/var/data"])
    }

    @Test func theDeviceComesFromTheVMWhenTheAttachResultIsMissing() async throws {
        let f = try await VMExecutorFixture()
        await f.devices.attach(lun: 4, .init(path: "/dev/sdg", partitions: [1: "/dev/sdg1"]))
        await f.scriptVM([.os: 4])
        try await f.run(.mount, results: [:])
        #expect(await f.mounts.table.entry(at: f.root)?.source == "/dev/sdg1")
    }

    @Test func refusesToMountOverAnotherFilesystem() async throws {
        let f = try await VMExecutorFixture()
        try await f.mounts.mount(MountRequest(source: "/dev/sdz1", target: f.root, kind: .filesystem(type: "xfs")))
        let error = await #expect(throws: ExecutorError.self) { try await f.run(.mount) }
        #expect(error?.message.contains("/dev/sdz1") == true)
        #expect(await f.mounts.table.entries(under: f.root).count == 1)
    }

    @Test func aManualMountCommandReplacesKilnsMountAndMustMountSomething() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    mount: {manualMountCommand: 'mount -o discard {{.Device}}2 {{.MountPath}}'}
                """)
        // The in-memory runner mounts nothing, so the executor sees an empty mount point.
        let error = await #expect(throws: ExecutorError.self) { try await f.run(.mount) }
        #expect(error?.message.contains("nothing is mounted at \(f.root)") == true)
        #expect(await f.runner.commands == ["mount -o discard /dev/sdc2 \(f.root)"])
        #expect(await f.mounts.directories == [f.root])

        // Once something is mounted there (as a real command would leave it), it is adopted.
        try await f.mounts.mount(
            MountRequest(source: "/dev/mapper/vg-root", target: f.root, kind: .filesystem(type: "ext4")))
        let outcome = try await f.run(.mount)
        #expect(outcome.device == "/dev/mapper/vg-root")
        #expect(await f.runner.commands.count == 1)
    }

    @Test func chrootMountsGoInOrderAndSkipThosePresent() async throws {
        let f = try await VMExecutorFixture()
        try await f.mountRoot()
        try await f.mounts.mount(
            MountRequest(source: "proc", target: f.root + "/proc", kind: .filesystem(type: "proc")))
        let before = await f.mounts.log.count
        try await f.run(.chrootMounts)
        #expect(
            Array(await f.mounts.log.dropFirst(before)) == [
                "mount -t sysfs sysfs \(f.root)/sys",
                "mount --bind /dev \(f.root)/dev",
                "mount -t devpts devpts \(f.root)/dev/pts",
                "mount -t binfmt_misc binfmt_misc \(f.root)/proc/sys/fs/binfmt_misc"
            ])
        try await f.run(.chrootMounts)
        #expect(await f.mounts.log.count == before + 4)
    }

    @Test func chrootMountsRefuseAnUnmountedRoot() async throws {
        let f = try await VMExecutorFixture()
        let error = await #expect(throws: ExecutorError.self) { try await f.run(.chrootMounts) }
        #expect(error?.message.contains("not mounted at \(f.root)") == true)
        #expect(await f.mounts.log.isEmpty)
    }

    @Test func unmountTakesEverythingUnderTheRootOffDeepestFirst() async throws {
        let f = try await VMExecutorFixture()
        try await f.mountRoot()
        try await f.run(.chrootMounts)
        try await f.run(.unmount)
        #expect(await f.mounts.table.entries(under: f.root).isEmpty)
        let unmounts = await f.mounts.log.filter { $0.hasPrefix("umount") }
        #expect(unmounts.first == "umount \(f.root)/proc/sys/fs/binfmt_misc")
        #expect(unmounts.last == "umount \(f.root)")
        // Nothing left: a second unmount is a no-op.
        try await f.run(.unmount)
    }
}
