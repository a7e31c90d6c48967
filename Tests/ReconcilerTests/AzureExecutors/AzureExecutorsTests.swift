import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

/// The Azure-side executors against the in-memory twin of Azure on virtual time, run by
/// the real scheduler with an in-memory journal. What goes over the wire is checked
/// against the emulator in `AzureExecutorsOverHTTPTests`.
@Suite struct AzureExecutorsTests {
    @Test func createDiskFromAPlatformImageUsesTheDeterministicNameAndTagsAndIsIdempotent() async throws {
        let h = try await ComputeTwinHarness.make()
        let create = h.action(.createDisk, "os")
        let first = await h.run([create])
        #expect(first.succeeded, "\(first.failureText)")

        let id = try h.diskID(.os)
        let disk = try #require(try await h.azure.disk(id))
        #expect(disk.name == "kiln-web-\(h.desired.runID)-os")
        #expect(disk.provisioningState == .succeeded)
        #expect(disk.osType == "Linux")
        #expect(disk.sku == "Standard_LRS")
        let tags = disk.tags ?? [:]
        #expect(tags["kiln:build"] == "web")
        #expect(tags["kiln:run"] == h.desired.runID)
        #expect(tags["kiln:digest"] == h.desired.digest.value)
        #expect(tags["kiln:role"] == "os")
        #expect(tags["team"] == "images")
        guard case .image(let image) = disk.source else {
            Issue.record("the disk is not made from an image: \(String(describing: disk.source))")
            return
        }
        #expect(
            image.hasSuffix(
                "/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/\(ComputeTwinHarness.platformVersion)"
            ))
        #expect(first.actions.first?.status == .done)

        // Again: the disk is adopted, not created a second time.
        let second = await h.run([create])
        #expect(second.succeeded, "\(second.failureText)")
        #expect(await h.azure.count(.beginCreateDisk, resource: id) == 1)
    }

    @Test func aJournaledOperationIsRejoinedWithoutASecondCreate() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.setLatency(.seconds(90), for: .beginCreateDisk)
        let id = try h.diskID(.os)
        let pending = h.action(.createDisk, "os")
        // An earlier run started the creation, journaled the operation and was killed.
        let started = try await h.azure.beginCreateDisk(
            id, CreateDiskExecutor(env: h.environment, role: .os).diskBody(h.desired, role: .os, action: pending))
        let journaled = try AzureOperations.encode(started.handle)
        #expect(try await h.azure.disk(id)?.provisioningState == .inProgress("Creating"))

        let store = InMemoryJournalStore()
        let result = await h.run([h.action(.createDisk, "os", status: .inFlight, operation: journaled)], store: store)
        #expect(result.succeeded, "\(result.failureText)")
        #expect(try await h.azure.disk(id)?.provisioningState == .succeeded)
        #expect(await h.azure.count(.beginCreateDisk) == 1)
        // The wait took the operation's time, on the virtual clock.
        #expect(h.clock.elapsed >= .seconds(90))
        #expect(await phases(store, "web/create-disk[os]").filter { $0.hasPrefix("started") }.isEmpty)
    }

    @Test func theOperationIsJournaledBeforeTheWait() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.setLatency(.seconds(30), for: .beginCreateDisk)
        let store = InMemoryJournalStore()
        let result = await h.run([h.action(.createDisk, "os")], store: store)
        #expect(result.succeeded, "\(result.failureText)")
        let phases = await phases(store, "web/create-disk[os]")
        #expect(phases.first == "intent")
        #expect(phases.last == "done")
        let started = try #require(phases.first { $0.hasPrefix("started ") })
        let handle = try #require(
            AzureOperations.decode(
                String(started.dropFirst("started ".count)), fallbackMethod: .put,
                resource: try h.diskID(.os), azure: h.azure))
        #expect(handle.method == .put)
        #expect(handle.resource.hasSuffix("/disks/kiln-web-\(h.desired.runID)-os"))
    }

    @Test func aDiskStillBeingCreatedByAnotherRunIsWaitedForNotCreatedAgain() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.setLatency(.seconds(120), for: .beginCreateDisk)
        let id = try h.diskID(.os)
        // A run whose journal was lost started it: nothing to re-join, the disk is Creating.
        _ = try await h.azure.beginCreateDisk(
            id,
            CreateDiskExecutor(env: h.environment, role: .os).diskBody(
                h.desired, role: .os, action: h.action(.createDisk, "os")))
        let result = await h.run([h.action(.createDisk, "os")])
        #expect(result.succeeded, "\(result.failureText)")
        #expect(await h.azure.count(.beginCreateDisk) == 1)
        #expect(try await h.azure.disk(id)?.provisioningState == .succeeded)
    }

    @Test func aFailedCreationFailsTheActionAndTheNextRunCreatesTheDiskAgain() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.failNext(.beginCreateDisk, code: "OperationNotAllowed", message: "Injected failure.")
        let failed = await h.run([h.action(.createDisk, "os")])
        #expect(!failed.succeeded)
        #expect(
            failed.failureText.contains("OperationNotAllowed") && failed.failureText.contains("Injected failure."),
            "\(failed.failureText)")
        #expect(try await h.azure.disk(h.diskID(.os))?.provisioningState == .failed)

        let again = await h.run([h.action(.createDisk, "os")])
        #expect(again.succeeded, "\(again.failureText)")
        #expect(await h.azure.count(.beginCreateDisk) == 2)
        #expect(try await h.azure.disk(h.diskID(.os))?.provisioningState == .succeeded)
    }

    @Test func anErrorAnsweredByAzureFailsTheActionWithItsWords() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.answerNext(
            .beginCreateImage,
            with: ArmError(
                kind: .http, operation: "create image", resource: "x", status: 409,
                code: "Conflict", message: "The disk is being detached."))
        let os = h.action(.createDisk, "os")
        let image = h.action(.image, after: [os.id])
        let result = await h.run([os, image])
        #expect(!result.succeeded)
        #expect(result.failures.first?.action == image.id)
        #expect(result.failureText.contains("The disk is being detached."), "\(result.failureText)")
        #expect(try await h.azure.image(h.imageID()) == nil)
    }

    @Test func anOperationLongerThanTheTimeoutFailsWithTheTimeoutAndIsRejoinedLater() async throws {
        let h = try await ComputeTwinHarness.make()
        // Longer than the build's Azure operation timeout.
        let timeout = h.desired.build.timeouts.azureOperation.duration
        await h.azure.setLatency(timeout + .seconds(60), for: .beginCreateDisk)
        let store = InMemoryJournalStore()
        let first = await h.run([h.action(.createDisk, "os")], store: store)
        #expect(!first.succeeded)
        #expect(first.failureText.contains("still running"), "\(first.failureText)")
        let started = try #require(await phases(store, "web/create-disk[os]").first { $0.hasPrefix("started ") })

        h.clock.advance(by: .seconds(30))
        let rejoin = h.action(
            .createDisk, "os", status: .inFlight, operation: String(started.dropFirst("started ".count)))
        let second = await h.run([rejoin], store: store)
        #expect(second.succeeded, "\(second.failureText)")
        #expect(await h.azure.count(.beginCreateDisk) == 1)
    }

    @Test func theManagedImageIsMadeStraightFromTheDisksAndCarriesTheDigest() async throws {
        let h = try await ComputeTwinHarness.make(dataDisks: "[{lun: 1, sizeGB: 4, cacheType: None}]")
        let os = h.action(.createDisk, "os")
        let lun1 = h.action(.createDisk, "lun1")
        var image = h.action(.image, after: [os.id, lun1.id])
        image.absentWhenPlanned = true
        let result = await h.run([os, lun1, image])
        #expect(result.succeeded, "\(result.failureText)")

        let dataDisk = try #require(try await h.azure.disk(h.diskID(.data(lun: 1))))
        #expect(dataDisk.source == .empty)
        #expect(dataDisk.sizeGB == 4)
        #expect(dataDisk.tags?["kiln:role"] == "lun1")

        let imageID = try h.imageID()
        let published = try #require(try await h.azure.image(imageID))
        #expect(published.provisioningState == .succeeded)
        #expect(published.tags?["kiln:digest"] == h.desired.digest.value)
        // No generation sent: the image takes the disk's, which it inherited from the platform image.
        #expect(published.hyperVGeneration == "V2")
        #expect(published.osState == "Generalized")
        #expect(published.osDisk?.source == .managedDisk(id: h.desired.diskID(.os).description))
        #expect(published.dataDisks?.map(\.lun) == [1])
        #expect(published.dataDisks?.first?.source == .managedDisk(id: h.desired.diskID(.data(lun: 1)).description))
        #expect(published.dataDisks?.first?.caching == "None")
        #expect(result.outputs.first?.imageID?.lowercased() == imageID.description.lowercased())
        // Observed missing by the plan: created without reading it, and without reading the disk.
        #expect(await h.azure.count(.image, resource: imageID) == 1)  // the check just above
        #expect(await h.azure.count(.beginCreateSnapshot) == 0)
    }

    @Test func anImageOfAnotherDigestIsReplacedAndOneNotMadeByKilnIsRefused() async throws {
        let h = try await ComputeTwinHarness.make()
        #expect(await h.run([h.action(.createDisk, "os")]).succeeded)
        let imageID = try h.imageID()
        let body = try ImageExecutor(env: h.environment).imageBody(h.desired, action: h.action(.image))

        var foreign = body
        foreign.tags = ["owner": "someone"]
        try await h.azure.beginCreateImage(imageID, foreign).waitUntilDone(timeout: .seconds(30))
        let refused = await h.run([h.action(.image, change: .replace)])
        #expect(!refused.succeeded)
        #expect(refused.failureText.contains("not made by Kiln"))
        #expect(try await h.azure.image(imageID)?.tags?["owner"] == "someone")

        var older = body
        older.tags?["kiln:digest"] = "sha256:" + String(repeating: "0", count: 64)
        try await h.azure.beginCreateImage(imageID, older).waitUntilDone(timeout: .seconds(30))
        let replaced = await h.run([h.action(.image, change: .replace)])
        #expect(replaced.succeeded, "\(replaced.failureText)")
        #expect(try await h.azure.image(imageID)?.tags?["kiln:digest"] == h.desired.digest.value)
        #expect(await h.azure.count(.beginDeleteImage) == 1)
    }

    /// A snapshot under the build's name is an earlier Kiln's (it captured through snapshots).
    @Test func deleteSnapshotAndDiskRemoveThemAndAMissingOneIsFine() async throws {
        let h = try await ComputeTwinHarness.make()
        #expect(await h.run([h.action(.createDisk, "os")]).succeeded)
        var tags = h.desired.tags
        tags[.role] = "os"
        try await h.azure.beginCreateSnapshot(
            h.snapshotID(.os),
            AzureSnapshot(
                location: h.location, tags: tags, sku: "Standard_LRS",
                source: .copy(sourceID: h.desired.diskID(.os).description), incremental: false)
        ).waitUntilDone(timeout: .seconds(30))
        let deletes = [h.action(.deleteSnapshot, "os", change: .delete), h.action(.deleteDisk, "os", change: .delete)]
        let result = await h.run(deletes)
        #expect(result.succeeded, "\(result.failureText)")
        #expect(try await h.azure.snapshot(h.snapshotID(.os)) == nil)
        #expect(try await h.azure.disk(h.diskID(.os)) == nil)

        let again = await h.run(deletes)
        #expect(again.succeeded, "\(again.failureText)")
        #expect(await h.azure.count(.beginDeleteDisk) == 1)
    }

    @Test func deleteDiskRefusesADiskThatIsStillAttached() async throws {
        let h = try await ComputeTwinHarness.make()
        #expect(await h.run([h.action(.createDisk, "os")]).succeeded)
        let id = try h.diskID(.os)
        _ = try await h.attach(id)

        let result = await h.run([h.action(.deleteDisk, "os", change: .delete)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("still attached"), "\(result.failureText)")
        #expect(try await h.azure.disk(id) != nil)
    }

    @Test func deleteRefusesAResourceKilnDidNotCreateForTheBuild() async throws {
        let h = try await ComputeTwinHarness.make()
        let id = try h.diskID(.os)
        try await h.createEmpty(id, tags: ["owner": "someone"])
        let result = await h.run([h.action(.deleteDisk, "os", change: .delete)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("refusing to delete"), "\(result.failureText)")
        #expect(try await h.azure.disk(id) != nil)
    }

    @Test func releaseLeftoverDetachesADiskFromTheBuilderVMThenDeletesIt() async throws {
        let h = try await ComputeTwinHarness.make()
        let leftover = try h.id("disks", "kiln-web-0123456789-os")
        try await h.createEmpty(leftover, tags: ["kiln:build": "web", "kiln:run": "0123456789", "kiln:role": "os"])
        let lun = try await h.attach(leftover)
        // Its device is mounted: the release is refused, and the disk stays attached.
        await h.devices.attach(lun: lun, .init(path: "/dev/loop-leftover"))
        await h.devices.setInUse("/dev/loop-leftover", true)
        let release = h.action(.releaseLeftover, leftover.name, change: .delete, resource: leftover.description)
        let refused = await h.run([release])
        #expect(!refused.succeeded)
        #expect(refused.failureText.contains("still in use"), "\(refused.failureText)")
        #expect(try await h.azure.disk(leftover)?.managedBy != nil)

        // Unmounted: detached, then deleted.
        await h.devices.setInUse("/dev/loop-leftover", false)
        await h.devices.detach(lun: lun)
        let released = await h.run([release])
        #expect(released.succeeded, "\(released.failureText)")
        #expect(try await h.azure.disk(leftover) == nil)
        #expect(try await h.azure.dataDisks(of: h.vm)?.isEmpty == true)
    }

    @Test func releaseLeftoverDeletesASnapshot() async throws {
        let h = try await ComputeTwinHarness.make()
        let snapshot = try ResourceID(
            parsing: h.desired.snapshotID(.os).description.replacingOccurrences(of: h.desired.runID, with: "0123456789")
        )
        try await h.createEmpty(snapshot, tags: ["kiln:build": "web", "kiln:run": "0123456789"])
        let result = await h.run([
            h.action(.releaseLeftover, snapshot.name, change: .delete, resource: snapshot.description)
        ])
        #expect(result.succeeded, "\(result.failureText)")
        #expect(try await h.azure.snapshot(snapshot) == nil)
    }

    @Test func createDiskCopiesAManagedDiskSource() async throws {
        let base = "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/disks/base"
        let h = try await ComputeTwinHarness.make(source: "{disk: \(base)}")
        let baseID = try #require(h.desired.sourceID)
        try await h.createEmpty(baseID, sizeGB: 2, hyperVGeneration: "V2")
        let result = await h.run([h.action(.createDisk, "os")])
        #expect(result.succeeded, "\(result.failureText)")
        let disk = try #require(try await h.azure.disk(h.diskID(.os)))
        #expect(disk.source == .copy(sourceID: baseID.description))
    }

    @Test func createDiskFromAGalleryImageVersionTakesItsDataDiskAtTheSameLUN() async throws {
        let version =
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/src/images/base/versions/1.0.0"
        let h = try await ComputeTwinHarness.make(
            dataDisks: "[{lun: 1, origin: source}]", source: "{galleryImageVersion: \(version)}")
        let result = await h.run([h.action(.createDisk, "os"), h.action(.createDisk, "lun1")])
        #expect(result.succeeded, "\(result.failureText)")
        let versionID = try #require(h.desired.sourceID)
        let os = try #require(try await h.azure.disk(h.diskID(.os)))
        #expect(os.source == .galleryImageVersion(id: versionID.description, lun: nil))
        let data = try #require(try await h.azure.disk(h.diskID(.data(lun: 1))))
        #expect(data.source == .galleryImageVersion(id: versionID.description, lun: 1))
        #expect(data.tags?["kiln:role"] == "lun1")
    }

    @Test func aPublishedVersionOfAnotherDigestIsRefused() async throws {
        let h = try await ComputeTwinHarness.make()
        let os = h.action(.createDisk, "os")
        let definition = h.action(.galleryDefinition)
        let version = h.action(.galleryVersion, after: [os.id, definition.id])
        #expect(await h.run([os, definition, version]).succeeded)
        var tags = h.desired.tags
        tags["kiln:digest"] = "sha256:" + String(repeating: "1", count: 64)
        await h.azure.setTags(of: try h.versionID(), tags)

        let result = await h.run([h.action(.galleryVersion)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("bump outputs.gallery.version"), "\(result.failureText)")
        #expect(await h.azure.count(.beginCreateGalleryImageVersion) == 1)
    }

    @Test func aScratchDiskIsEmptyWithTheScratchSizeAndGenerationV1() async throws {
        let h = try await ComputeTwinHarness.make()
        var d = h.desired
        d.build.source = .scratch(sizeGB: 8)
        let body = try CreateDiskExecutor(env: h.environment, role: .os).diskBody(
            d, role: .os, action: h.action(.createDisk, "os"))
        #expect(body.source == .empty)
        #expect(body.sizeGB == 8)
        #expect(body.hyperVGeneration == "V1")
        #expect(body.osType == "Linux")
    }

    @Test func eachAzureSideStepGetsItsExecutorWithItsDiskOrRegion() async throws {
        let h = try await ComputeTwinHarness.make()
        let executors = Executors(
            h.environment, manifestDirectory: URL(fileURLWithPath: "/nonexistent"),
            galleryPollInterval: .milliseconds(50))
        #expect((executors.executor(for: .createDisk(.data(lun: 1))) as? CreateDiskExecutor)?.role == .data(lun: 1))
        #expect((executors.executor(for: .deleteSnapshot(.os)) as? DeleteSnapshotExecutor)?.role == .os)
        #expect((executors.executor(for: .deleteDisk(.data(lun: 2))) as? DeleteDiskExecutor)?.role == .data(lun: 2))
        let replicate = executors.executor(for: .replicate(region: "West US 2")) as? ReplicateExecutor
        #expect(replicate?.region == "West US 2" && replicate?.pollInterval == .milliseconds(50))
        #expect(executors.executor(for: .galleryVersion) is GalleryVersionExecutor)
        #expect(executors.executor(for: .image) is ImageExecutor)
        #expect(executors.executor(for: .galleryDefinition) is GalleryDefinitionExecutor)
        #expect(executors.executor(for: .updateGalleryVersion) is UpdateGalleryVersionExecutor)
        #expect(executors.executor(for: .releaseLeftover(disk: "kiln-web-0123456789-os")) is ReleaseLeftoverExecutor)
        #expect((executors.executor(for: .deleteImage) as? DeleteOutputExecutor)?.output == .image)
        #expect((executors.executor(for: .deleteGalleryVersion) as? DeleteOutputExecutor)?.output == .galleryVersion)
        #expect(executors.executor(for: .resolveSource) is Executors.NothingToDo)
    }
}
