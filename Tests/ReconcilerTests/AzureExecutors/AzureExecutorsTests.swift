import AzureEmulator
import Foundation
import Model
import Planner
import Providers
@testable import Reconciler
import TestSupport
import Testing

/// The Azure-side executors against an in-process emulator over HTTP, run by the real
/// scheduler with an in-memory journal.
@Suite struct AzureExecutorsTests {
    @Test func createDiskFromAPlatformImageUsesTheDeterministicNameAndTagsAndIsIdempotent() async throws {
        try await AzureExecutorHarness.with { h in
            let create = h.action(.createDisk, "os")
            let first = await h.run([create])
            #expect(first.succeeded, "\(first.failureText)")

            let id = try h.diskID(.os)
            let disk = try #require(try await h.arm.getDisk(id))
            #expect(disk.name == "kiln-web-\(h.desired.runID)-os")
            #expect(disk.properties?.provisioningState == "Succeeded")
            #expect(disk.properties?.osType == "Linux")
            #expect(disk.sku?.name == "Standard_LRS")
            let tags = disk.tags ?? [:]
            #expect(tags["kiln:build"] == "web")
            #expect(tags["kiln:run"] == h.desired.runID)
            #expect(tags["kiln:digest"] == h.desired.digest.value)
            #expect(tags["kiln:role"] == "os")
            #expect(tags["team"] == "images")
            let image = try #require(disk.properties?.creationData?.imageReference?.id)
            #expect(image.hasSuffix("/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/\(AzureExecutorHarness.platformVersion)"))
            #expect(first.actions.first?.status == .done)

            // Again: the disk is adopted, not PUT a second time.
            let second = await h.run([create])
            #expect(second.succeeded, "\(second.failureText)")
            #expect(try await h.puts(to: id.name) == 1)
        }
    }

    @Test func aJournaledOperationIsRejoinedWithoutASecondPUT() async throws {
        try await AzureExecutorHarness.with { h in
            try await h.setLatency(#"{"diskCreate": 0.3}"#)
            let id = try h.diskID(.os)
            let executor = CreateDiskExecutor(env: h.environment, role: .os)
            let pending = h.action(.createDisk, "os")
            // An earlier run sent the PUT, journaled the operation and was killed.
            let started = try await h.arm.beginCreateDisk(id, executor.diskBody(h.desired, role: .os, action: pending))
            let journaled = try AzureOperations.encode(started.handle)

            let store = InMemoryJournalStore()
            let rejoin = h.action(.createDisk, "os", status: .inFlight, operation: journaled)
            let result = await h.run([rejoin], store: store)
            #expect(result.succeeded, "\(result.failureText)")
            #expect(try await h.arm.getDisk(id)?.properties?.provisioningState == "Succeeded")
            #expect(try await h.puts(to: id.name) == 1)
            // Nothing new was started: the journal has no second operation.
            #expect(await phases(store, "web/create-disk[os]").filter { $0.hasPrefix("started") }.isEmpty)
        }
    }

    @Test func theOperationIsJournaledBeforeTheWait() async throws {
        try await AzureExecutorHarness.with { h in
            let store = InMemoryJournalStore()
            let result = await h.run([h.action(.createDisk, "os")], store: store)
            #expect(result.succeeded, "\(result.failureText)")
            let phases = await phases(store, "web/create-disk[os]")
            #expect(phases.first == "intent")
            #expect(phases.last == "done")
            let started = try #require(phases.first { $0.hasPrefix("started ") })
            // The entry is the operation handle, re-joinable by a later run.
            let handle = try #require(AzureOperations.decode(String(started.dropFirst("started ".count)), fallbackMethod: .put,
                                                             resource: try h.diskID(.os), arm: h.arm))
            #expect(handle.method == .put)
            #expect(handle.resource.hasSuffix("/disks/kiln-web-\(h.desired.runID)-os"))
        }
    }

    @Test func snapshotAndManagedImageCarryTheDigest() async throws {
        try await AzureExecutorHarness.with(dataDisks: "[{lun: 1, sizeGB: 4, cacheType: None}]") { h in
            let os = h.action(.createDisk, "os"), lun1 = h.action(.createDisk, "lun1")
            let snapOS = h.action(.snapshot, "os", after: [os.id]), snapData = h.action(.snapshot, "lun1", after: [lun1.id])
            let image = h.action(.image, after: [snapOS.id, snapData.id])
            let result = await h.run([os, lun1, snapOS, snapData, image])
            #expect(result.succeeded, "\(result.failureText)")

            let snapshot = try #require(try await h.arm.getSnapshot(h.snapshotID(.os)))
            #expect(snapshot.properties?.provisioningState == "Succeeded")
            #expect(snapshot.properties?.incremental == false)
            #expect(snapshot.sku?.name == "Standard_LRS")
            #expect(snapshot.properties?.creationData?.sourceResourceId?.lowercased() == h.desired.diskID(.os).description.lowercased())
            #expect(snapshot.tags?["kiln:role"] == "os")

            let dataDisk = try #require(try await h.arm.getDisk(h.diskID(.data(lun: 1))))
            #expect(dataDisk.properties?.creationData?.createOption == "Empty")
            #expect(dataDisk.properties?.diskSizeGB == 4)

            let imageID = try #require(h.desired.imageID)
            let published = try #require(try await h.arm.getImage(imageID))
            #expect(published.properties?.provisioningState == "Succeeded")
            #expect(published.tags?["kiln:digest"] == h.desired.digest.value)
            #expect(published.properties?.hyperVGeneration == "V2")
            let storage = try #require(published.properties?.storageProfile)
            #expect(storage.osDisk?.osState == "Generalized")
            #expect(storage.osDisk?.snapshot?.id?.lowercased() == h.desired.snapshotID(.os).description.lowercased())
            #expect(storage.dataDisks?.map(\.lun) == [1])
            #expect(storage.dataDisks?.first?.caching == "None")
            #expect(result.outputs.first?.imageID?.lowercased() == imageID.description.lowercased())
        }
    }

    @Test func anImageOfAnotherDigestIsReplacedAndOneNotMadeByKilnIsRefused() async throws {
        try await AzureExecutorHarness.with { h in
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            #expect(await h.run([os, snap]).succeeded)
            let imageID = try #require(h.desired.imageID)
            let body = try await ImageExecutor(env: h.environment).imageBody(h.desired, action: h.action(.image))

            var foreign = body
            foreign.tags = ["owner": "someone"]
            _ = try await h.arm.beginCreateImage(imageID, foreign).wait(timeout: .seconds(30))
            let refused = await h.run([h.action(.image, change: .replace)])
            #expect(!refused.succeeded)
            #expect(refused.failureText.contains("not made by Kiln"))
            #expect(try await h.arm.getImage(imageID)?.tags?["owner"] == "someone")

            _ = try await h.arm.beginDeleteImage(imageID).wait(timeout: .seconds(30))
            var older = body
            older.tags?["kiln:digest"] = "sha256:" + String(repeating: "0", count: 64)
            _ = try await h.arm.beginCreateImage(imageID, older).wait(timeout: .seconds(30))
            let replaced = await h.run([h.action(.image, change: .replace)])
            #expect(replaced.succeeded, "\(replaced.failureText)")
            #expect(try await h.arm.getImage(imageID)?.tags?["kiln:digest"] == h.desired.digest.value)
        }
    }

    @Test func galleryVersionCreatesTheMissingGalleryAndDefinitionAndReplicatesToBothRegions() async throws {
        try await AzureExecutorHarness.with { h in
            try await h.setLatency(#"{"versionPerRegion": 0.1}"#)
            let ensure = h.action(.galleryDefinition)
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            let version = h.action(.galleryVersion, after: [snap.id, ensure.id])
            let west = h.action(.replicate, h.endpoints.location, after: [version.id], change: .wait)
            let east = h.action(.replicate, "eastus", after: [version.id], change: .wait)
            let events = CollectingEventSink()
            let result = await h.run([ensure, os, snap, version, west, east], events: events)
            #expect(result.succeeded, "\(result.failureText)")

            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent), galleryID = try #require(definitionID.parent)
            #expect(try await h.arm.getGallery(galleryID)?.properties?.provisioningState == "Succeeded")
            let definition = try #require(try await h.arm.getGalleryImage(definitionID))
            #expect(definition.properties?.identifier?.publisher == "kiln")
            #expect(definition.properties?.identifier?.offer == "kilngallery")
            #expect(definition.properties?.identifier?.sku == "web")
            #expect(definition.properties?.osState == "Generalized")
            #expect(definition.properties?.hyperVGeneration == "V2")

            let published = try #require(try await h.arm.getGalleryImageVersion(versionID, replicationStatus: true))
            #expect(published.properties?.provisioningState == "Succeeded")
            #expect(published.tags?["kiln:digest"] == h.desired.digest.value)
            let regions = published.properties?.publishingProfile?.targetRegions ?? []
            #expect(Set(regions.map { RegionName.normalized($0.name) }) == [h.endpoints.location, "eastus"])
            #expect(regions.first { $0.name == "eastus" }?.regionalReplicaCount == 2)
            #expect(published.properties?.replicationStatus?.summary?.allSatisfy { $0.state == "Completed" } == true)
            #expect(published.properties?.storageProfile?.osDiskImage?.hostCaching == "ReadOnly")
            #expect(result.outputs.first?.galleryImageVersionID?.lowercased() == versionID.description.lowercased())
            // The last progress line of the publication shows both regions done.
            let last = try #require(events.progress(version.id).last)
            #expect(last.contains("\(h.endpoints.location) 100%") && last.contains("eastus 100%"), "\(last)")
            #expect(events.progress(east.id).last == "eastus Completed")

            // Published and current: a second apply adopts it.
            let again = await h.run([h.action(.galleryVersion)])
            #expect(again.succeeded, "\(again.failureText)")
            #expect(try await h.puts(to: "1.0.0") == 1)
        }
    }

    /// The gallery and definition need no disk: made first, with the generation the OS disk
    /// will inherit from the source (a gen-1 platform image here, read before any disk
    /// exists); a second run adopts both without a PUT.
    @Test func galleryDefinitionCreatesTheMissingGalleryAndDefinitionBeforeAnyDisk() async throws {
        try await AzureExecutorHarness.with(source: "{platformImage: 'Canonical:ubuntu-24_04-lts:server-gen1:latest'}") { h in
            let store = InMemoryJournalStore()
            let result = await h.run([h.action(.galleryDefinition)], store: store)
            #expect(result.succeeded, "\(result.failureText)")
            #expect(try await h.arm.getDisk(h.diskID(.os)) == nil)

            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent), galleryID = try #require(definitionID.parent)
            let gallery = try #require(try await h.arm.getGallery(galleryID))
            #expect(gallery.properties?.provisioningState == "Succeeded")
            #expect(gallery.tags?["kiln:build"] == "web" && gallery.tags?["team"] == "images")
            let created = try #require(try await h.arm.getGalleryImage(definitionID))
            #expect(created.properties?.provisioningState == "Succeeded")
            #expect(created.properties?.osType == "Linux" && created.properties?.osState == "Generalized")
            #expect(created.properties?.identifier?.publisher == "kiln")
            #expect(created.properties?.identifier?.offer == "kilngallery" && created.properties?.identifier?.sku == "web")
            #expect(created.properties?.hyperVGeneration == "V1")
            // Journaled like any Azure action: intent, each operation started, done.
            let journaled = await phases(store, "web/gallery-definition")
            #expect(journaled.first == "intent" && journaled.last == "done", "\(journaled)")
            #expect(journaled.filter { $0.hasPrefix("started") }.count == 2, "\(journaled)")

            let again = await h.run([h.action(.galleryDefinition)])
            #expect(again.succeeded, "\(again.failureText)")
            #expect(try await h.puts(to: "kilngallery") == 1)
            #expect(try await h.puts(to: "web") == 1)
        }
    }

    /// An existing gallery and definition (made by someone else) are used as they are, and
    /// the version goes into the gallery's region.
    @Test func galleryDefinitionAdoptsAnExistingGalleryAndDefinition() async throws {
        try await AzureExecutorHarness.with { h in
            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent), galleryID = try #require(definitionID.parent)
            _ = try await h.arm.beginCreateGallery(galleryID, ArmGallery(location: h.endpoints.location, tags: ["owner": "team"])).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImage(definitionID, ArmGalleryImage(location: h.endpoints.location, properties: .init(
                osType: "Linux", osState: "Specialized", identifier: .init(publisher: "p", offer: "o", sku: "s"), hyperVGeneration: "V2")))
                .wait(timeout: .seconds(30))

            let definition = h.action(.galleryDefinition)
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            let version = h.action(.galleryVersion, after: [snap.id, definition.id])
            let result = await h.run([definition, os, snap, version])
            #expect(result.succeeded, "\(result.failureText)")
            #expect(try await h.puts(to: "kilngallery") == 1)
            #expect(try await h.puts(to: "web") == 1)
            let kept = try #require(try await h.arm.getGalleryImage(definitionID))
            #expect(kept.properties?.identifier?.publisher == "p" && kept.properties?.osState == "Specialized")
            #expect(try await h.arm.getGallery(galleryID)?.tags?["owner"] == "team")
            let published = try #require(try await h.arm.getGalleryImageVersion(versionID))
            #expect(published.properties?.provisioningState == "Succeeded")
            #expect(published.location.map(RegionName.normalized) == RegionName.normalized(h.endpoints.location))
        }
    }

    /// A definition the version could not go into is refused with the fix, before any
    /// disk work, and left as it is.
    @Test(arguments: [("Linux", "V1", "its hyperVGeneration is V1, the build's OS disk's is V2"),
                      ("Windows", "V2", "its osType is Windows, the build's is Linux")])
    func galleryDefinitionRefusesAnIncompatibleDefinition(osType: String, generation: String, problem: String) async throws {
        try await AzureExecutorHarness.with { h in
            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent), galleryID = try #require(definitionID.parent)
            _ = try await h.arm.beginCreateGallery(galleryID, ArmGallery(location: h.endpoints.location)).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImage(definitionID, ArmGalleryImage(location: h.endpoints.location, properties: .init(
                osType: osType, osState: "Generalized", identifier: .init(publisher: "p", offer: "o", sku: "s"), hyperVGeneration: generation)))
                .wait(timeout: .seconds(30))

            let result = await h.run([h.action(.galleryDefinition)])
            #expect(!result.succeeded)
            #expect(result.failureText.contains("image definition web in gallery kilngallery cannot hold this build's version: \(problem)"), "\(result.failureText)")
            #expect(result.failureText.contains("outputs.gallery.imageDefinition"), "\(result.failureText)")
            #expect(result.failures.first?.action == ActionID("web", .galleryDefinition))
            #expect(try await h.puts(to: "web") == 1)
            #expect(try await h.arm.getGalleryImage(definitionID)?.properties?.hyperVGeneration == generation)
        }
    }

    /// Its creation ended Failed: the action fails with Azure's words; the next run PUTs the
    /// Failed definition again (as Azure retries it in place) instead of adopting it.
    @Test func aDefinitionWhoseCreationFailedIsCreatedAgainByTheNextRun() async throws {
        try await AzureExecutorHarness.with { h in
            _ = try await h.control(.put, "/faults", body: #"[{"kind": "failOperation", "method": "PUT", "path": "*/galleries/*/images/*", "times": 1, "code": "InternalOperationError", "message": "Injected failure."}]"#)
            let failed = await h.run([h.action(.galleryDefinition)])
            #expect(!failed.succeeded)
            #expect(failed.failureText.contains("InternalOperationError") && failed.failureText.contains("Injected failure."), "\(failed.failureText)")
            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent)
            #expect(try await h.arm.getGalleryImage(definitionID)?.properties?.provisioningState == "Failed")

            let again = await h.run([h.action(.galleryDefinition)])
            #expect(again.succeeded, "\(again.failureText)")
            let definition = try #require(try await h.arm.getGalleryImage(definitionID))
            #expect(definition.properties?.provisioningState == "Succeeded")
            #expect(definition.properties?.identifier?.publisher == "kiln" && definition.properties?.hyperVGeneration == "V2")
            #expect(try await h.puts(to: "web") == 2)
            #expect(try await h.puts(to: "kilngallery") == 1)
        }
    }

    @Test func theDefinitionsGenerationComesFromTheSourceBeforeTheDiskExists() async throws {
        let version = "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/src/images/base/versions/1.0.0"
        try await AzureExecutorHarness.with(source: "{galleryImageVersion: \(version)}") { h in
            let sourceID = try #require(h.desired.sourceID)
            let sourceDefinition = try #require(sourceID.parent), sourceGallery = try #require(sourceDefinition.parent)
            _ = try await h.arm.beginCreateGallery(sourceGallery, ArmGallery(location: h.endpoints.location)).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImage(sourceDefinition, ArmGalleryImage(location: h.endpoints.location, properties: .init(
                osType: "Linux", osState: "Generalized", identifier: .init(publisher: "p", offer: "o", sku: "s"), hyperVGeneration: "V1")))
                .wait(timeout: .seconds(30))
            let action = h.action(.galleryDefinition)
            #expect(try await h.environment.sourceHyperVGeneration(h.desired, action: action) == "V1")
            var pinned = h.desired
            pinned.build.disk.hyperVGeneration = .v2
            #expect(try await h.environment.sourceHyperVGeneration(pinned, action: action) == "V2")
        }
    }

    @Test func replicateWaitsUntilItsRegionIsCompleted() async throws {
        try await AzureExecutorHarness.with { h in
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            #expect(await h.run([os, snap]).succeeded)
            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent), galleryID = try #require(definitionID.parent)
            _ = try await h.arm.beginCreateGallery(galleryID, ArmGallery(location: h.endpoints.location)).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImage(definitionID, ArmGalleryImage(location: h.endpoints.location, properties: .init(
                osType: "Linux", osState: "Generalized", identifier: .init(publisher: "p", offer: "o", sku: "s"), hyperVGeneration: "V2")))
                .wait(timeout: .seconds(30))
            // Publish without waiting: each region takes a while to replicate.
            try await h.setLatency(#"{"versionPerRegion": 0.4}"#)
            let body = try GalleryVersionExecutor(env: h.environment).versionBody(h.desired, try #require(h.desired.gallery),
                                                                                 location: h.endpoints.location, action: h.action(.galleryVersion))
            _ = try await h.arm.beginCreateGalleryImageVersion(versionID, body)

            let events = CollectingEventSink()
            let east = h.action(.replicate, "eastus", change: .wait)
            let result = await h.run([east], events: events)
            #expect(result.succeeded, "\(result.failureText)")
            let status = try await h.arm.getGalleryImageVersion(versionID, replicationStatus: true)?.properties?.replicationStatus
            #expect(status?.summary?.first { $0.region == "eastus" }?.state == "Completed")
            #expect(events.progress(east.id).last == "eastus Completed")
        }
    }

    @Test func replicateFailsClearlyWhenTheVersionIsMissing() async throws {
        try await AzureExecutorHarness.with { h in
            let result = await h.run([h.action(.replicate, "eastus", change: .wait)])
            #expect(!result.succeeded)
            #expect(result.failureText.contains("does not exist"), "\(result.failureText)")
        }
    }

    @Test func updateGalleryVersionRepairsThePublishingProfile() async throws {
        try await AzureExecutorHarness.with { h in
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            let definition = h.action(.galleryDefinition)
            let version = h.action(.galleryVersion, after: [snap.id, definition.id])
            #expect(await h.run([os, snap, definition, version]).succeeded)
            let versionID = try #require(h.desired.gallery?.id)
            // Drift behind Kiln's back: one region dropped, excluded from latest, an end of life.
            let drift = ArmGalleryImageVersionUpdate(properties: .init(publishingProfile: .init(
                targetRegions: [.init(name: h.endpoints.location, regionalReplicaCount: 1, storageAccountType: "Standard_LRS")], excludeFromLatest: true,
                endOfLifeDate: "2030-01-01")))
            _ = try await h.arm.beginUpdateGalleryImageVersion(versionID, drift).wait(timeout: .seconds(30))
            #expect(try await h.arm.getGalleryImageVersion(versionID)?.properties?.publishingProfile?.endOfLifeDate == "2030-01-01")

            let result = await h.run([h.action(.updateGalleryVersion, change: .update)])
            #expect(result.succeeded, "\(result.failureText)")
            let profile = try await h.arm.getGalleryImageVersion(versionID)?.properties?.publishingProfile
            #expect(Set((profile?.targetRegions ?? []).map { RegionName.normalized($0.name) }) == [h.endpoints.location, "eastus"])
            #expect(profile?.excludeFromLatest == false)
            #expect(profile?.endOfLifeDate == nil)
        }
    }

    @Test func deleteSnapshotAndDiskRemoveThemAndAMissingOneIsFine() async throws {
        try await AzureExecutorHarness.with { h in
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            #expect(await h.run([os, snap]).succeeded)
            let deletes = [h.action(.deleteSnapshot, "os", change: .delete), h.action(.deleteDisk, "os", change: .delete)]
            let result = await h.run(deletes)
            #expect(result.succeeded, "\(result.failureText)")
            let snapshotID = try h.snapshotID(.os), diskID = try h.diskID(.os)
            #expect(try await h.arm.getSnapshot(snapshotID) == nil)
            #expect(try await h.arm.getDisk(diskID) == nil)

            let again = await h.run(deletes)
            #expect(again.succeeded, "\(again.failureText)")
        }
    }

    @Test func deleteDiskRefusesADiskThatIsStillAttached() async throws {
        try await AzureExecutorHarness.with { h in
            #expect(await h.run([h.action(.createDisk, "os")]).succeeded)
            let id = try h.diskID(.os)
            _ = try await h.arm.attachDataDisk(id, to: h.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(30))

            let result = await h.run([h.action(.deleteDisk, "os", change: .delete)])
            #expect(!result.succeeded)
            #expect(result.failureText.contains("still attached"), "\(result.failureText)")
            #expect(try await h.arm.getDisk(id) != nil)
            try await h.arm.detachDataDisk(id, from: h.vm, timeout: .seconds(30))
        }
    }

    @Test func deleteRefusesAResourceKilnDidNotCreateForTheBuild() async throws {
        try await AzureExecutorHarness.with { h in
            let id = try h.diskID(.os)
            _ = try await h.arm.beginCreateDisk(id, ArmDisk(location: h.endpoints.location, tags: ["owner": "someone"],
                                                            properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
                .wait(timeout: .seconds(30))
            let result = await h.run([h.action(.deleteDisk, "os", change: .delete)])
            #expect(!result.succeeded)
            #expect(result.failureText.contains("refusing to delete"), "\(result.failureText)")
            #expect(try await h.arm.getDisk(id) != nil)
        }
    }

    @Test func releaseLeftoverDetachesADiskFromTheBuilderVMThenDeletesIt() async throws {
        try await AzureExecutorHarness.with { h in
            let leftover = try await leftoverDisk(h, "kiln-web-0123456789-os")
            let lun = try await h.arm.attachDataDisk(leftover, to: h.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(30))
            // Its device is mounted: the release is refused, and the disk stays attached.
            await h.devices.attach(lun: lun, .init(path: "/dev/loop-leftover"))
            await h.devices.setInUse("/dev/loop-leftover", true)
            let release = h.action(.releaseLeftover, leftover.name, change: .delete, resource: leftover.description)
            let refused = await h.run([release])
            #expect(!refused.succeeded)
            #expect(refused.failureText.contains("still in use"), "\(refused.failureText)")
            #expect(try await h.arm.getDisk(leftover)?.managedBy != nil)

            // Unmounted: detached, then deleted.
            await h.devices.setInUse("/dev/loop-leftover", false)
            await h.devices.detach(lun: lun)
            let released = await h.run([release])
            #expect(released.succeeded, "\(released.failureText)")
            #expect(try await h.arm.getDisk(leftover) == nil)
            let vm = try await h.arm.getVirtualMachine(h.vm)
            #expect(vm?.properties?.storageProfile?.dataDisks?.isEmpty ?? true)
        }
    }

    @Test func releaseLeftoverDeletesASnapshot() async throws {
        try await AzureExecutorHarness.with { h in
            let disk = try await leftoverDisk(h, "kiln-web-0123456789-os")
            let snapshot = try ResourceID(parsing: h.desired.snapshotID(.os).description.replacingOccurrences(of: h.desired.runID, with: "0123456789"))
            _ = try await h.arm.beginCreateSnapshot(snapshot, ArmSnapshot(location: h.endpoints.location, tags: ["kiln:build": "web", "kiln:run": "0123456789"],
                                                                         properties: .init(creationData: .init(createOption: "Copy", sourceResourceId: disk.description))))
                .wait(timeout: .seconds(30))
            let result = await h.run([h.action(.releaseLeftover, snapshot.name, change: .delete, resource: snapshot.description)])
            #expect(result.succeeded, "\(result.failureText)")
            #expect(try await h.arm.getSnapshot(snapshot) == nil)
        }
    }

    @Test func createDiskCopiesAManagedDiskSource() async throws {
        let base = "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/disks/base"
        try await AzureExecutorHarness.with(source: "{disk: \(base)}") { h in
            let baseID = try #require(h.desired.sourceID)
            _ = try await h.arm.beginCreateDisk(baseID, ArmDisk(location: h.endpoints.location, properties: .init(
                creationData: .init(createOption: "Empty"), diskSizeGB: 2, osType: "Linux", hyperVGeneration: "V2"))).wait(timeout: .seconds(30))
            let result = await h.run([h.action(.createDisk, "os")])
            #expect(result.succeeded, "\(result.failureText)")
            let disk = try #require(try await h.arm.getDisk(h.diskID(.os)))
            #expect(disk.properties?.creationData?.createOption == "Copy")
            #expect(disk.properties?.creationData?.sourceResourceId?.lowercased() == baseID.description.lowercased())
            #expect(disk.properties?.hyperVGeneration == "V2")
        }
    }

    @Test func createDiskFromAGalleryImageVersionTakesItsDataDiskAtTheSameLUN() async throws {
        let version = "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/src/images/base/versions/1.0.0"
        try await AzureExecutorHarness.with(dataDisks: "[{lun: 1, origin: source}]", source: "{galleryImageVersion: \(version)}") { h in
            let versionID = try #require(h.desired.sourceID)
            let definitionID = try #require(versionID.parent), galleryID = try #require(definitionID.parent)
            let osID = try h.diskID(.os).description.replacingOccurrences(of: "kiln-web", with: "src")
            let dataID = osID + "-data"
            let image = "/subscriptions/\(h.vm.subscription)/providers/Microsoft.Compute/locations/\(h.endpoints.location)/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/\(AzureExecutorHarness.platformVersion)"
            _ = try await h.arm.beginCreateDisk(ResourceID(parsing: osID), ArmDisk(location: h.endpoints.location, properties: .init(
                creationData: .init(createOption: "FromImage", imageReference: .init(id: image))))).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateDisk(ResourceID(parsing: dataID), ArmDisk(location: h.endpoints.location, properties: .init(
                creationData: .init(createOption: "Empty"), diskSizeGB: 3))).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGallery(galleryID, ArmGallery(location: h.endpoints.location)).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImage(definitionID, ArmGalleryImage(location: h.endpoints.location, properties: .init(
                osType: "Linux", osState: "Generalized", identifier: .init(publisher: "p", offer: "o", sku: "s"), hyperVGeneration: "V2")))
                .wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImageVersion(versionID, ArmGalleryImageVersion(location: h.endpoints.location, properties: .init(
                publishingProfile: nil, storageProfile: .init(osDiskImage: .init(source: ArmSubResource(id: osID)),
                                                              dataDiskImages: [.init(lun: 1, source: ArmSubResource(id: dataID))])))).wait(timeout: .seconds(30))

            let result = await h.run([h.action(.createDisk, "os"), h.action(.createDisk, "lun1")])
            #expect(result.succeeded, "\(result.failureText)")
            let os = try #require(try await h.arm.getDisk(h.diskID(.os)))
            #expect(os.properties?.creationData?.galleryImageReference?.id?.lowercased() == versionID.description.lowercased())
            #expect(os.properties?.creationData?.galleryImageReference?.lun == nil)
            let data = try #require(try await h.arm.getDisk(h.diskID(.data(lun: 1))))
            #expect(data.properties?.creationData?.galleryImageReference?.lun == 1)
            #expect(data.properties?.diskSizeGB == 3)
            #expect(data.tags?["kiln:role"] == "lun1")
        }
    }

    @Test func anInterruptEndsTheWaitAndTheNextRunRejoinsTheOperation() async throws {
        try await AzureExecutorHarness.with { h in
            try await h.setLatency(#"{"diskCreate": 1.5}"#)
            let store = InMemoryJournalStore()
            let interrupts = InterruptController()
            let running = Task { await h.run([h.action(.createDisk, "os")], store: store, interrupts: interrupts) }
            // Interrupt once the operation is journaled (the executor is then waiting).
            try await withDeadlockGuard("the operation to be journaled") {
                while await phases(store, "web/create-disk[os]").last?.hasPrefix("started") != true { try await Task.sleep(for: .milliseconds(10)) }
            }
            interrupts.interrupt()
            let first = await running.value
            #expect(first.interrupted)
            let journaled = try #require(await phases(store, "web/create-disk[os]").last)
            #expect(journaled.hasPrefix("started "))

            // The next run finds the action in flight and waits for the same operation.
            let rejoin = h.action(.createDisk, "os", status: .inFlight, operation: String(journaled.dropFirst("started ".count)))
            let second = await h.run([rejoin], store: store)
            #expect(second.succeeded, "\(second.failureText)")
            #expect(try await h.arm.getDisk(h.diskID(.os))?.properties?.provisioningState == "Succeeded")
            #expect(try await h.puts(to: h.desired.diskName(.os)) == 1)
        }
    }

    @Test func aPublishedVersionOfAnotherDigestIsRefused() async throws {
        try await AzureExecutorHarness.with { h in
            let os = h.action(.createDisk, "os"), snap = h.action(.snapshot, "os", after: [os.id])
            let definition = h.action(.galleryDefinition)
            let version = h.action(.galleryVersion, after: [snap.id, definition.id])
            #expect(await h.run([os, snap, definition, version]).succeeded)
            let versionID = try #require(h.desired.gallery?.id)
            var tags = h.desired.tags
            tags["kiln:digest"] = "sha256:" + String(repeating: "1", count: 64)
            _ = try await h.arm.beginUpdateGalleryImageVersion(versionID, ArmGalleryImageVersionUpdate(tags: tags)).wait(timeout: .seconds(30))

            let result = await h.run([h.action(.galleryVersion)])
            #expect(!result.succeeded)
            #expect(result.failureText.contains("bump outputs.gallery.version"), "\(result.failureText)")
            #expect(try await h.puts(to: "1.0.0") == 1)
        }
    }

    @Test func aScratchDiskIsEmptyWithTheScratchSizeAndGenerationV1() async throws {
        try await AzureExecutorHarness.with { h in
            var d = h.desired
            d.build.source = .scratch(sizeGB: 8)
            let body = try CreateDiskExecutor(env: h.environment, role: .os).diskBody(d, role: .os, action: h.action(.createDisk, "os"))
            #expect(body.properties?.creationData?.createOption == "Empty")
            #expect(body.properties?.diskSizeGB == 8)
            #expect(body.properties?.hyperVGeneration == "V1")
            #expect(body.properties?.osType == "Linux")
            // The emulator (like Azure) accepts it.
            let disk = try await h.arm.beginCreateDisk(h.diskID(.os), body).wait(timeout: .seconds(30), as: ArmDisk.self)
            #expect(disk?.properties?.diskSizeGB == 8)
        }
    }

    @Test func aBareOperationURLInTheJournalIsStillRejoinable() async throws {
        try await AzureExecutorHarness.with { h in
            let id = try h.diskID(.os)
            let url = "\(h.endpoints.arm)/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/abc?api-version=2024-03-02"
            let handle = try #require(AzureOperations.decode(url, fallbackMethod: .delete, resource: id, arm: h.arm))
            #expect(handle.method == .delete)
            #expect(handle.asyncOperationURL?.absoluteString == url)
            #expect(handle.resource == id.description)
            #expect(AzureOperations.decode("not a handle", fallbackMethod: .put, resource: id, arm: h.arm) == nil)
        }
    }

    @Test func eachAzureSideStepGetsItsExecutorWithItsDiskOrRegion() async throws {
        try await AzureExecutorHarness.with { h in
            let executors = h.table
            #expect((executors.executor(for: .createDisk(.data(lun: 1))) as? CreateDiskExecutor)?.role == .data(lun: 1))
            #expect((executors.executor(for: .snapshot(.os)) as? SnapshotExecutor)?.role == .os)
            #expect((executors.executor(for: .deleteSnapshot(.os)) as? DeleteSnapshotExecutor)?.role == .os)
            #expect((executors.executor(for: .deleteDisk(.data(lun: 2))) as? DeleteDiskExecutor)?.role == .data(lun: 2))
            let replicate = executors.executor(for: .replicate(region: "West US 2")) as? ReplicateExecutor
            #expect(replicate?.region == "West US 2" && replicate?.pollInterval == .milliseconds(50))
            #expect((executors.executor(for: .galleryVersion) as? GalleryVersionExecutor)?.progressInterval == .milliseconds(50))
            #expect(executors.executor(for: .image) is ImageExecutor)
            #expect(executors.executor(for: .galleryDefinition) is GalleryDefinitionExecutor)
            #expect(executors.executor(for: .updateGalleryVersion) is UpdateGalleryVersionExecutor)
            #expect(executors.executor(for: .releaseLeftover(disk: "kiln-web-0123456789-os")) is ReleaseLeftoverExecutor)
            #expect((executors.executor(for: .deleteImage) as? DeleteOutputExecutor)?.output == .image)
            #expect((executors.executor(for: .deleteGalleryVersion) as? DeleteOutputExecutor)?.output == .galleryVersion)
            #expect(executors.executor(for: .resolveSource) is Executors.NothingToDo)
        }
    }

    /// A disk of this build left by another run (tagged as Kiln tags its disks).
    private func leftoverDisk(_ h: AzureExecutorHarness, _ name: String) async throws -> ResourceID {
        let id = try ResourceID(parsing: "/subscriptions/\(h.vm.subscription)/resourceGroups/\(h.vm.resourceGroup)/providers/Microsoft.Compute/disks/\(name)")
        _ = try await h.arm.beginCreateDisk(id, ArmDisk(location: h.endpoints.location, tags: ["kiln:build": "web", "kiln:run": "0123456789", "kiln:role": "os"],
                                                        properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
            .wait(timeout: .seconds(30))
        return id
    }
}
