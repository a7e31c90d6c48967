import Foundation
import Model
import Testing

@testable import Providers

/// The in-memory twin of Azure: resources, operations that take time on a virtual clock,
/// data disks of a VM, platform images, listings, and the faults tests can inject.
@Suite struct InMemoryComputeTests {
    let clock = VirtualClock()
    var azure: InMemoryCompute<VirtualClock> { InMemoryCompute(clock: clock) }

    static func id(_ text: String) -> ResourceID { AzureFixtures.id(text) }
    let diskID = Self.id("disks/d1")

    func emptyDisk(_ tags: [String: String]? = nil) -> AzureDisk {
        AzureDisk(location: "westus", tags: tags, sku: "Standard_LRS", source: .empty, sizeGB: 4)
    }

    @Test func aCreationTakesItsLatencyOnTheClockAndReadsCreatingMeanwhile() async throws {
        let azure = azure
        await azure.setLatency(.seconds(30), for: .beginCreateDisk)
        let operation = try await azure.beginCreateDisk(diskID, emptyDisk())
        #expect(try await azure.disk(diskID)?.provisioningState == .inProgress("Creating"))
        clock.advance(by: .seconds(10))
        #expect(try await azure.disk(diskID)?.provisioningState == .inProgress("Creating"))
        try await operation.waitUntilDone(timeout: .seconds(60))
        #expect(clock.elapsed == .seconds(30))
        let disk = try #require(try await azure.disk(diskID))
        #expect(disk.provisioningState == .succeeded && disk.name == "d1" && disk.diskState == "Unattached")
        #expect(disk.id?.lowercased() == diskID.description.lowercased())
    }

    @Test func aWaitShorterThanTheOperationTimesOutAndTheHandleCanBeWaitedOnAgain() async throws {
        let azure = azure
        await azure.setLatency(.seconds(600), for: .beginCreateDisk)
        let handle = try await azure.beginCreateDisk(diskID, emptyDisk()).handle
        await #expect(throws: ArmError.self) {
            try await azure.operation(resuming: handle).waitUntilDone(timeout: .seconds(60))
        }
        do {
            try await azure.operation(resuming: handle).waitUntilDone(timeout: .seconds(60))
        } catch let error as ArmError {
            #expect(error.kind == .operationTimedOut)
            #expect(error.description.contains("still running"))
        }
        // Each wait took its whole minute; re-joined (e.g. by the next run), the wait ends
        // when the operation does.
        #expect(clock.elapsed == .seconds(120))
        try await azure.operation(resuming: handle).waitUntilDone(timeout: .seconds(1200))
        #expect(clock.elapsed == .seconds(600))
        #expect(try await azure.disk(diskID)?.provisioningState == .succeeded)
    }

    @Test func aFailedOperationThrowsAzuresCodeAndLeavesTheResourceFailed() async throws {
        let azure = azure
        await azure.failNext(.beginCreateDisk, code: "OperationNotAllowed", message: "No quota.")
        let operation = try await azure.beginCreateDisk(diskID, emptyDisk())
        do {
            try await operation.waitUntilDone(timeout: .seconds(60))
            Issue.record("the operation succeeded")
        } catch let error as ArmError {
            #expect(
                error.kind == .operationFailed && error.code == "OperationNotAllowed" && error.message == "No quota.")
            #expect(error.operation == "create disk" && error.resource == diskID.description)
        }
        #expect(try await azure.disk(diskID)?.provisioningState == .failed)
        // Only the next one fails.
        try await azure.beginCreateDisk(diskID, emptyDisk()).waitUntilDone(timeout: .seconds(60))
        #expect(try await azure.disk(diskID)?.provisioningState == .succeeded)
    }

    @Test func anAnsweredErrorIsThrownByTheCallAndChangesNothing() async throws {
        let azure = azure
        let error = ArmError(
            kind: .http, operation: "create disk", resource: diskID.description, status: 429, code: "TooManyRequests")
        await azure.answerNext(.beginCreateDisk, with: error)
        await #expect(throws: ArmError.self) { _ = try await azure.beginCreateDisk(diskID, emptyDisk()) }
        #expect(try await azure.disk(diskID) == nil)
        #expect(await azure.count(.beginCreateDisk) == 1)
        _ = try await azure.beginCreateDisk(diskID, emptyDisk())
        #expect(try await azure.disk(diskID) != nil)
    }

    @Test func aDeletionReadsDeletingThenTheResourceIsGoneAndAMissingOneIsDeletedAlready() async throws {
        let azure = azure
        try await azure.beginCreateDisk(diskID, emptyDisk()).waitUntilDone(timeout: .seconds(60))
        await azure.setLatency(.seconds(20), for: .beginDeleteDisk)
        let deletion = try await azure.beginDeleteDisk(diskID)
        #expect(try await azure.disk(diskID)?.provisioningState == .inProgress("Deleting"))
        try await deletion.waitUntilDone(timeout: .seconds(60))
        #expect(try await azure.disk(diskID) == nil)
        try await azure.beginDeleteDisk(diskID).waitUntilDone(timeout: .seconds(60))
    }

    @Test func aProvisioningHandleWaitsForAResourceAnotherProcessIsCreating() async throws {
        let azure = azure
        await azure.setLatency(.seconds(180), for: .beginCreateSnapshot)
        let snapshot = Self.id("snapshots/s1")
        _ = try await azure.beginCreateSnapshot(
            snapshot, AzureSnapshot(location: "westus", source: .copy(sourceID: diskID.description)))
        try await azure.operation(resuming: azure.provisioningHandle(of: snapshot)).waitUntilDone(
            timeout: .seconds(300))
        #expect(clock.elapsed == .seconds(180))
        #expect(try await azure.snapshot(snapshot)?.provisioningState == .succeeded)

        // One that ended Failed says so.
        await azure.setProvisioningState(of: snapshot, .failed)
        await #expect(throws: ArmError.self) {
            try await azure.operation(resuming: azure.provisioningHandle(of: snapshot)).waitUntilDone(
                timeout: .seconds(300))
        }
    }

    @Test func dataDisksTakeTheLowestFreeLUNAndAreAdoptedDetachedAndLimited() async throws {
        let azure = azure
        let vm = AzureFixtures.vm
        await azure.addVirtualMachine(vm)
        let disks = (1...3).map { Self.id("disks/d\($0)") }
        for d in disks { try await azure.beginCreateDisk(d, emptyDisk()).waitUntilDone(timeout: .seconds(60)) }
        let lock = InProcessLUNLock()

        let luns = try await azure.updateDataDisks(
            [.attach(.init(disk: disks[0])), .attach(.init(disk: disks[1]))], on: vm, maxDataDisks: 2,
            lock: lock, timeout: .seconds(60))
        #expect(luns == [0, 1])
        #expect(try await azure.disk(disks[0])?.managedBy?.lowercased() == vm.description.lowercased())
        #expect(try await azure.disk(disks[0])?.attachedTo != nil)
        // Already attached: adopted at its LUN, nothing started.
        let handles = HandleLog()
        #expect(
            try await azure.updateDataDisks(
                [.attach(.init(disk: disks[1]))], on: vm, maxDataDisks: 2, lock: lock, timeout: .seconds(60),
                ensureNotInUse: { _, _ in }, onStarted: { await handles.add($0) }) == [1])
        #expect(await handles.count == 0)
        // The VM is full.
        do {
            _ = try await azure.updateDataDisks(
                [.attach(.init(disk: disks[2]))], on: vm, maxDataDisks: 2, lock: lock, timeout: .seconds(60))
            Issue.record("a third disk was attached")
        } catch let error as ArmError {
            #expect(error.code == ArmClient.maxDataDisksReached)
        }
        // A detach refused before anything is done; then a detach and an attach in one change
        // (a LUN being detached is not given to an attach of the same change).
        await #expect(throws: BuilderDiskError.self) {
            _ = try await azure.updateDataDisks(
                [.detach(disks[0])], on: vm, maxDataDisks: 2, lock: lock, timeout: .seconds(60),
                ensureNotInUse: { disk, lun in
                    throw BuilderDiskError.stillInUse(disk: disk.name, lun: lun, device: "/dev/x")
                },
                onStarted: { _ in })
        }
        let swapped = try await azure.updateDataDisks(
            [.detach(disks[0]), .attach(.init(disk: disks[2]))], on: vm, maxDataDisks: 3, lock: lock,
            timeout: .seconds(60), ensureNotInUse: { _, _ in }, onStarted: { await handles.add($0) })
        #expect(swapped == [0, 2])
        #expect(await handles.count == 1)
        #expect(try await azure.dataDisks(of: vm)?.map(\.lun) == [1, 2])
        #expect(try await azure.dataDisks(of: vm)?.last?.isDisk(disks[2]) == true)
        #expect(try await azure.disk(disks[0])?.attachedTo == nil)
        // Not attached: nothing to detach.
        #expect(
            try await azure.updateDataDisks(
                [.detach(disks[0])], on: vm, maxDataDisks: 2, lock: lock, timeout: .seconds(60)) == [nil])
        #expect(try await azure.dataDisks(of: Self.id("virtualMachines/other")) == nil)
    }

    @Test func latestResolvesToTheNumericallyHighestVersionInTheLocation() async throws {
        let azure = azure
        let urn = try PlatformImageURN(parsing: "Canonical:ubuntu:server:latest")
        await azure.addPlatformImage(
            urn, location: "westus", versions: ["1.0.9", "1.0.10", "1.0.2"], hyperVGeneration: "V1")
        let resolved = try await azure.resolvePlatformImage(subscription: "s", location: "West US", urn: urn)
        #expect(resolved.version == "1.0.10")
        #expect(
            try await azure.platformImage(subscription: "s", location: "westus", urn: resolved)?.hyperVGeneration
                == "V1")
        #expect(
            try await azure.platformImage(subscription: "s", location: "westus", urn: urn.resolved(to: "9.9.9")) == nil)
        await #expect(throws: ArmError.self) {
            _ = try await azure.resolvePlatformImage(subscription: "s", location: "eastus", urn: urn)
        }
        let pinned = urn.resolved(to: "1.0.2")
        #expect(try await azure.resolvePlatformImage(subscription: "s", location: "eastus", urn: pinned) == pinned)
    }

    @Test func theListingHoldsTheGroupsTopLevelResourcesWithTheirTags() async throws {
        let azure = azure
        try await azure.beginCreateDisk(diskID, emptyDisk(["KILN:Build": "web"])).waitUntilDone(timeout: .seconds(60))
        let elsewhere = try ResourceID(
            parsing:
                "/subscriptions/\(AzureFixtures.subscription)/resourceGroups/other/providers/Microsoft.Compute/disks/x")
        try await azure.beginCreateDisk(elsewhere, emptyDisk()).waitUntilDone(timeout: .seconds(60))
        let gallery = Self.id("galleries/g")
        try await azure.beginCreateGallery(gallery, AzureGallery(location: "westus")).waitUntilDone(
            timeout: .seconds(60))
        try await azure.beginCreateGalleryImage(
            Self.id("galleries/g/images/d"),
            AzureGalleryImage(
                location: "westus", osType: "Linux", osState: "Generalized", identifier: nil)
        ).waitUntilDone(timeout: .seconds(60))

        let listed = try await azure.resources(subscription: AzureFixtures.subscription, resourceGroup: "RG")
        #expect(listed.map(\.type) == ["Microsoft.Compute/disks", "Microsoft.Compute/galleries"])
        #expect(listed.first?.tag(.build) == "web")
    }

    @Test func aGalleryImageVersionReplicatesOverItsCreationAndCanFailInARegion() async throws {
        let azure = azure
        let version = Self.id("galleries/g/images/d/versions/1.0.0")
        try await azure.beginCreateGallery(Self.id("galleries/g"), AzureGallery(location: "westus")).waitUntilDone(
            timeout: .seconds(60))
        // No definition yet: refused, as Azure does.
        let body = AzureGalleryImageVersion(
            location: "westus", tags: ["kiln:digest": "x"],
            publishingProfile: PublishingProfile(
                targetRegions: [.init(name: "westus"), .init(name: "East US", replicas: 2)]),
            osDisk: .init(sourceID: "/snap"))
        await #expect(throws: ArmError.self) { _ = try await azure.beginCreateGalleryImageVersion(version, body) }
        try await azure.beginCreateGalleryImage(
            version.parent!,
            AzureGalleryImage(
                location: "westus", osType: "Linux", osState: "Generalized", identifier: nil)
        ).waitUntilDone(timeout: .seconds(60))

        await azure.setLatency(.seconds(1200), for: .beginCreateGalleryImageVersion)
        let creation = try await azure.beginCreateGalleryImageVersion(version, body)
        clock.advance(by: .seconds(300))
        let early = try #require(try await azure.galleryImageVersion(version, replicationStatus: true))
        #expect(early.provisioningState == .inProgress("Creating"))
        #expect(early.replication?.regions?.map(\.state) == [.replicating, .replicating])
        #expect(early.replication?.regions?.map(\.region) == ["westus", "eastus"])
        #expect(early.replication?.regions?.first?.progress == 25)
        #expect(try await azure.galleryImageVersion(version, replicationStatus: false)?.replication == nil)

        await azure.failReplication(of: version, to: "eastus", details: "Quota exceeded.")
        try await creation.waitUntilDone(timeout: .seconds(3600))
        let done = try #require(try await azure.galleryImageVersion(version, replicationStatus: true))
        #expect(done.provisioningState == .succeeded)
        #expect(done.replication?.regions?.map(\.state) == [.completed, .failed])
        #expect(done.replication?.aggregatedState == "Failed")
        #expect(done.replication?.regions?.last?.details == "Quota exceeded.")
    }

    @Test func aPublishingProfileUpdateReplacesWhatItSetsAndAlwaysTheEndOfLife() async throws {
        let azure = azure
        let version = Self.id("galleries/g/images/d/versions/1.0.0")
        try await azure.beginCreateGallery(Self.id("galleries/g"), AzureGallery(location: "westus")).waitUntilDone(
            timeout: .seconds(60))
        try await azure.beginCreateGalleryImage(
            version.parent!,
            AzureGalleryImage(
                location: "westus", osType: "Linux", osState: "Generalized", identifier: nil)
        ).waitUntilDone(timeout: .seconds(60))
        try await azure.beginCreateGalleryImageVersion(
            version,
            AzureGalleryImageVersion(
                location: "westus",
                publishingProfile: PublishingProfile(
                    targetRegions: [.init(name: "westus")], excludeFromLatest: true,
                    endOfLifeDate: "2030-01-01"), osDisk: .init(sourceID: "/snap"))
        )
        .waitUntilDone(timeout: .seconds(60))
        try await azure.beginUpdatePublishingProfile(version, PublishingProfile(targetRegions: nil)).waitUntilDone(
            timeout: .seconds(60))
        let profile = try await azure.galleryImageVersion(version, replicationStatus: false)?.publishingProfile
        #expect(profile?.targetRegions == [.init(name: "westus")])
        #expect(profile?.excludeFromLatest == true)
        #expect(profile?.endOfLifeDate == nil)
    }

    @Test func callsAreRecordedInOrder() async throws {
        let azure = azure
        _ = try await azure.disk(diskID)
        _ = try await azure.image(Self.id("images/i"))
        #expect(await azure.calls.map(\.call) == [.disk, .image])
        #expect(await azure.count(.disk, resource: diskID) == 1)
        await azure.resetCalls()
        #expect(await azure.calls.isEmpty)
    }
}

/// Operation handles passed to `onStarted`.
private actor HandleLog {
    private var handles: [OperationHandle] = []
    func add(_ handle: OperationHandle) { handles.append(handle) }
    var count: Int { handles.count }
}
