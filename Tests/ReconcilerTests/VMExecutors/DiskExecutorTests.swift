import Foundation
import Model
import Planner
import Providers
import Testing

@testable import Reconciler

@Suite struct VMDiskTests {
    @Test func attachAdoptsAnExistingAttachmentAndReportsItsLUNAndDevice() async throws {
        let f = try await VMExecutorFixture()
        await f.devices.attach(lun: 3, .init(path: "/dev/sdf"))
        await f.scriptVM([.os: 3])
        let outcome = try await f.run(.attach, "os", results: [:])
        #expect(outcome == ActionOutcome(device: "/dev/sdf", lun: 3))
        // Adopted: the VM was read, nothing was sent to change it.
        #expect(await f.transport.requests.allSatisfy { $0.method == .get })
    }

    @Test func deviceFindsTheLUNInTheAttachResultOrOnTheVM() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    disk:
                      dataDisks: [{lun: 1, sizeGB: 4}]
                """)
        #expect(try await f.run(.device, "lun1") == ActionOutcome(device: "/dev/sdd", lun: 1))
        #expect(await f.transport.requests.isEmpty)

        // After a reboot the attach result may be an earlier run's; without one the VM says.
        await f.devices.attach(lun: 6, .init(path: "/dev/sdi"))
        await f.scriptVM([.os: 0, .data(lun: 1): 6])
        #expect(try await f.run(.device, "lun1", results: [:]) == ActionOutcome(device: "/dev/sdi", lun: 6))
    }

    @Test func deviceOfADiskTheVMDoesNotHaveSaysSo() async throws {
        let f = try await VMExecutorFixture()
        await f.scriptVM([:])
        let error = await #expect(throws: ExecutorError.self) { try await f.run(.device, "os", results: [:]) }
        #expect(error?.message.contains("is not attached to the builder VM builder") == true)
    }

    @Test func detachRefusesWhileTheDeviceIsInUseAndSkipsADetachedDisk() async throws {
        let f = try await VMExecutorFixture()
        await f.devices.attach(lun: 3, .init(path: "/dev/sdf"))
        await f.devices.setInUse("/dev/sdf", true)
        await f.scriptVM([.os: 3])
        await #expect(throws: BuilderDiskError.stillInUse(disk: f.d.diskName(.os), lun: 3, device: "/dev/sdf")) {
            try await f.run(.detach, "os")
        }
        #expect(await f.transport.requests.allSatisfy { $0.method == .get })

        let other = try await VMExecutorFixture()
        await other.scriptVM([:])
        #expect(try await other.run(.detach, "os") == ActionOutcome.none)
        #expect(await other.transport.requests.allSatisfy { $0.method == .get })
    }

    @Test func eachVMSideStepGetsItsExecutorWithItsDisk() async throws {
        let f = try await VMExecutorFixture()
        let executors = Executors(f.env, manifestDirectory: f.manifestDirectory)
        #expect((executors.executor(for: .attach(.data(lun: 1))) as? AttachExecutor)?.role == .data(lun: 1))
        #expect((executors.executor(for: .device(.os)) as? DeviceExecutor)?.role == .os)
        #expect((executors.executor(for: .detach(.os)) as? DetachExecutor)?.role == .os)
        #expect((executors.executor(for: .provision(step: "motd")) as? ProvisionExecutor)?.step == "motd")
        #expect((executors.executor(for: .preUnmount) as? HostCommandsExecutor)?.phase == .preUnmount)
        #expect(executors.executor(for: .mount) is MountExecutor)
        #expect(executors.executor(for: .chrootMounts) is ChrootMountsExecutor)
        #expect(executors.executor(for: .copyFiles) is CopyFilesExecutor)
        #expect(executors.executor(for: .restoreFiles) is RestoreFilesExecutor)
        #expect(executors.executor(for: .unmount) is UnmountExecutor)
    }
}

/// The wait for a detach that a killed run started, on virtual time.
@Suite struct DetachWaitOnVirtualTime {
    @Test func aDiskStillOwnedByTheBuilderIsPolledEverySecondUntilTheTimeout() async throws {
        let f = try await VMExecutorFixture()
        let disk = f.d.diskID(.os)
        let body = #"{"id": "\#(disk)", "name": "\#(disk.name)", "managedBy": "\#(fixtureVM)", "properties": {}}"#
        await f.transport.on(.get, "/disks/\(disk.name)", json: (200, body, [:]))
        let clock = VirtualClock()
        let action = f.context(.detach, "os").action
        await #expect {
            try await DetachExecutor(env: f.env, role: .os)
                .waitUntilReleased(disk, by: f.env.vm.id, action: action, timeout: .seconds(30), clock: clock)
        } throws: { error in
            "\(error)".contains("still names VM \(f.env.vm.id.name) as its owner")
        }
        #expect(clock.elapsed == .seconds(30))
        #expect(clock.sleeps == Array(repeating: .seconds(1), count: 30))
    }

    @Test func aReleasedDiskEndsTheWaitAtOnce() async throws {
        let f = try await VMExecutorFixture()
        let disk = f.d.diskID(.os)
        let body = #"{"id": "\#(disk)", "name": "\#(disk.name)", "properties": {}}"#
        await f.transport.on(.get, "/disks/\(disk.name)", json: (200, body, [:]))
        let clock = VirtualClock()
        let action = f.context(.detach, "os").action
        try await DetachExecutor(env: f.env, role: .os)
            .waitUntilReleased(disk, by: f.env.vm.id, action: action, timeout: .seconds(30), clock: clock)
        #expect(clock.sleeps.isEmpty)
    }
}
