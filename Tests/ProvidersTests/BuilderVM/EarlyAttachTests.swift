import Foundation
import Model
import Testing

@testable import Providers

/// `BuilderDisks.attach` returns once the device is there: when it appears at the LUN Azure
/// accepted the attach at, before the operation is seen to end — unless a device was
/// already at that LUN (another disk on its way out), which is never taken for this one.
@Suite struct EarlyAttachTests {
    static func rig(latency: Duration, devices: InMemoryBlockDevices) async throws -> (
        BuilderDisks, ResourceID, InMemoryCompute<ContinuousClock>
    ) {
        let azure = InMemoryCompute(clock: ContinuousClock())
        let vm = try ResourceID(
            parsing: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/builder")
        await azure.addVirtualMachine(vm)
        let disk = try ResourceID(parsing: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d")
        try await azure.beginCreateDisk(
            disk, AzureDisk(location: "westus", sku: "Standard_LRS", source: .empty, sizeGB: 4)
        )
        .waitUntilDone(timeout: .seconds(5))
        await azure.setLatency(latency, for: .updateDataDisks)
        let disks = BuilderDisks(azure: azure, vm: vm, devices: devices, lock: InProcessLUNLock(), maxDataDisks: 4)
        return (disks, disk, azure)
    }

    @Test func theDeviceAppearingEndsTheAttachBeforeTheOperationIsSeenToEnd() async throws {
        // Free when the attach is accepted (the first probe), there from the third probe on.
        let devices = InMemoryBlockDevices(disks: [0: .init(path: "/dev/sdc", visibleAfterProbes: 2)])
        // The operation takes 120 s, far longer than the early way takes even when the whole
        // suite loads the machine (it once took 12 s to get its turn then).
        let (disks, disk, _) = try await Self.rig(latency: .seconds(120), devices: devices)
        let journaled = OneShot<OperationHandle>()
        let started = ContinuousClock.now
        let device = try await disks.attach(
            disk, timeout: .seconds(300), deviceTimeout: .seconds(60),
            onStarted: { handle in await journaled.set(handle) })
        #expect(device.path == "/dev/sdc" && device.lun == 0)
        #expect(ContinuousClock.now - started < .seconds(60))
        // The journal gets the operation with the LUN it was accepted at.
        let handle = try await journaled.wait()
        let luns = handle.dataDiskLUNs ?? []
        #expect(luns == [0])
    }

    @Test func aDeviceAlreadyAtTheLUNIsNotTakenForTheNewDisk() async throws {
        // A device at LUN 0 before the attach is accepted: another disk's, on its way out.
        let devices = InMemoryBlockDevices(disks: [0: .init(path: "/dev/sdb")])
        let (disks, disk, azure) = try await Self.rig(latency: .seconds(1), devices: devices)
        let started = ContinuousClock.now
        let device = try await disks.attach(disk, timeout: .seconds(60), deviceTimeout: .seconds(60))
        // Returned only once the operation was seen to succeed.
        #expect(ContinuousClock.now - started >= .seconds(1))
        #expect(device.lun == 0)
        #expect(try await azure.dataDisks(of: disks.vm)?.map(\.lun) == [0])
    }

    @Test func aFailedAttachFailsWithAzuresErrorEvenWhenNoDeviceShows() async throws {
        let devices = InMemoryBlockDevices()
        let (disks, disk, azure) = try await Self.rig(latency: .milliseconds(100), devices: devices)
        await azure.failNext(.updateDataDisks, code: "AttachFailed", message: "Injected.")
        let error = await #expect(throws: ArmError.self) {
            _ = try await disks.attach(disk, timeout: .seconds(30), deviceTimeout: .seconds(5))
        }
        #expect(error?.code == "AttachFailed")
    }
}
