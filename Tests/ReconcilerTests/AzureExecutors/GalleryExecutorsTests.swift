import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

/// The gallery executors (definition, version, replicate, update) on the twin, on virtual time.
@Suite struct GalleryExecutorsTests {
    @Test func galleryVersionCreatesTheMissingGalleryAndDefinitionAndReplicatesToBothRegions() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.setLatency(.seconds(1200), for: .beginCreateGalleryImageVersion)
        let ensure = h.action(.galleryDefinition)
        let os = h.action(.createDisk, "os")
        // As a plan that observed it missing says: created without a read first.
        var version = h.action(.galleryVersion, after: [os.id, ensure.id])
        version.absentWhenPlanned = true
        let west = h.action(.replicate, h.location, after: [version.id], change: .wait)
        let east = h.action(.replicate, "eastus", after: [version.id], change: .wait)
        let events = CollectingEventSink()
        let result = await h.run([ensure, os, version, west, east], events: events)
        #expect(result.succeeded, "\(result.failureText)")

        let versionID = try h.versionID()
        let definitionID = try #require(versionID.parent)
        let galleryID = try #require(definitionID.parent)
        #expect(try await h.azure.gallery(galleryID)?.provisioningState == .succeeded)
        let definition = try #require(try await h.azure.galleryImage(definitionID))
        #expect(definition.identifier == .init(publisher: "kiln", offer: "kilngallery", sku: "web"))
        #expect(definition.osState == "Generalized")
        #expect(definition.hyperVGeneration == "V2")

        let published = try #require(try await h.azure.galleryImageVersion(versionID, replicationStatus: true))
        #expect(published.provisioningState == .succeeded)
        #expect(published.tags?["kiln:digest"] == h.desired.digest.value)
        let regions = published.publishingProfile?.targetRegions ?? []
        #expect(Set(regions.map { RegionName.normalized($0.name) }) == [h.location, "eastus"])
        #expect(regions.first { $0.name == "eastus" }?.replicas == 2)
        #expect(published.replication?.regions?.allSatisfy { $0.state == .completed } == true)
        #expect(published.osDisk?.hostCaching == "ReadOnly")
        // Made straight from the disk.
        #expect(published.osDisk?.sourceID?.lowercased() == h.desired.diskID(.os).description.lowercased())
        #expect(result.outputs.first?.galleryImageVersionID?.lowercased() == versionID.description.lowercased())
        // Progress comes from the operation's own polls: the version was never read by the
        // run (the one read is this test's, above).
        let last = try #require(events.progress(version.id).last)
        #expect(last == "replicating to \(h.location), eastus: 50%", "\(last)")
        #expect(await h.azure.count(.galleryImageVersion, resource: versionID) == 1)
        // The version's operation ended only once both regions had replicated: the
        // replicate actions take that, with no read of their own.
        #expect(events.progress(east.id).last == "eastus Completed")
        #expect(events.progress(west.id).last == "\(h.location) Completed")

        let again = await h.run([h.action(.galleryVersion)])
        #expect(again.succeeded, "\(again.failureText)")
        #expect(await h.azure.count(.beginCreateGalleryImageVersion) == 1)
    }

    /// The gallery and definition need no disk: made first, with the generation the OS disk
    /// will inherit from the source (a gen-1 platform image here); a second run adopts both.
    @Test func galleryDefinitionCreatesTheMissingGalleryAndDefinitionBeforeAnyDisk() async throws {
        let h = try await ComputeTwinHarness.make(
            source: "{platformImage: 'Canonical:ubuntu-24_04-lts:server-gen1:latest'}")
        let store = InMemoryJournalStore()
        let result = await h.run([h.action(.galleryDefinition)], store: store)
        #expect(result.succeeded, "\(result.failureText)")
        #expect(try await h.azure.disk(h.diskID(.os)) == nil)

        let definitionID = try #require(try h.versionID().parent)
        let galleryID = try #require(definitionID.parent)
        let gallery = try #require(try await h.azure.gallery(galleryID))
        #expect(gallery.provisioningState == .succeeded)
        #expect(gallery.tags?["kiln:build"] == "web" && gallery.tags?["team"] == "images")
        let created = try #require(try await h.azure.galleryImage(definitionID))
        #expect(created.provisioningState == .succeeded)
        #expect(created.osType == "Linux" && created.osState == "Generalized")
        #expect(created.identifier == .init(publisher: "kiln", offer: "kilngallery", sku: "web"))
        #expect(created.hyperVGeneration == "V1")
        let journaled = await phases(store, "web/gallery-definition")
        #expect(journaled.first == "intent" && journaled.last == "done", "\(journaled)")
        #expect(journaled.filter { $0.hasPrefix("started") }.count == 2, "\(journaled)")

        let again = await h.run([h.action(.galleryDefinition)])
        #expect(again.succeeded, "\(again.failureText)")
        #expect(await h.azure.count(.beginCreateGallery) == 1)
        #expect(await h.azure.count(.beginCreateGalleryImage) == 1)
    }

    /// An existing gallery and definition (made by someone else) are used as they are, and
    /// the version goes into the gallery's region.
    @Test func galleryDefinitionAdoptsAnExistingGalleryAndDefinition() async throws {
        let h = try await ComputeTwinHarness.make()
        let versionID = try h.versionID()
        let definitionID = try #require(versionID.parent)
        let galleryID = try #require(definitionID.parent)
        try await h.azure.beginCreateGallery(galleryID, AzureGallery(location: "eastus", tags: ["owner": "team"]))
            .waitUntilDone(timeout: .seconds(30))
        try await h.azure.beginCreateGalleryImage(
            definitionID,
            AzureGalleryImage(
                location: "eastus", osType: "Linux", osState: "Specialized",
                identifier: .init(publisher: "p", offer: "o", sku: "s"),
                hyperVGeneration: "V2")
        ).waitUntilDone(timeout: .seconds(30))

        let definition = h.action(.galleryDefinition)
        let os = h.action(.createDisk, "os")
        let version = h.action(.galleryVersion, after: [os.id, definition.id])
        let result = await h.run([definition, os, version])
        #expect(result.succeeded, "\(result.failureText)")
        #expect(await h.azure.count(.beginCreateGallery) == 1)
        #expect(await h.azure.count(.beginCreateGalleryImage) == 1)
        let kept = try #require(try await h.azure.galleryImage(definitionID))
        #expect(kept.identifier?.publisher == "p" && kept.osState == "Specialized")
        #expect(try await h.azure.gallery(galleryID)?.tags?["owner"] == "team")
        let published = try #require(try await h.azure.galleryImageVersion(versionID, replicationStatus: false))
        #expect(published.provisioningState == .succeeded)
        #expect(published.location == "eastus")
    }

    /// A definition the version could not go into is refused with the fix, before any
    /// disk work, and left as it is.
    @Test(arguments: [
        ("Linux", "V1", "hyperVGeneration V1 → V2, which Azure does not let change"),
        ("Windows", "V2", "osType Windows → Linux, which Azure does not let change")
    ])
    func galleryDefinitionRefusesAnIncompatibleDefinition(
        osType: String, generation: String, problem: String
    ) async throws {
        let h = try await ComputeTwinHarness.make()
        let definitionID = try #require(try h.versionID().parent)
        let galleryID = try #require(definitionID.parent)
        try await h.azure.beginCreateGallery(galleryID, AzureGallery(location: h.location)).waitUntilDone(
            timeout: .seconds(30))
        try await h.azure.beginCreateGalleryImage(
            definitionID,
            AzureGalleryImage(
                location: h.location, osType: osType, osState: "Generalized",
                identifier: .init(publisher: "p", offer: "o", sku: "s"),
                hyperVGeneration: generation)
        ).waitUntilDone(timeout: .seconds(30))

        let result = await h.run([h.action(.galleryDefinition)])
        #expect(!result.succeeded)
        #expect(
            result.failureText.contains(
                "image definition web in gallery kilngallery cannot hold this build's version: \(problem)"),
            "\(result.failureText)")
        #expect(result.failureText.contains("outputs.gallery.imageDefinition"), "\(result.failureText)")
        #expect(result.failures.first?.action == ActionID(build: "web", step: .galleryDefinition))
        #expect(await h.azure.count(.beginCreateGalleryImage) == 1)
        #expect(try await h.azure.galleryImage(definitionID)?.hyperVGeneration == generation)
    }

    /// Its creation ended Failed: the action fails with Azure's words; the next run creates
    /// the Failed definition again, as it was, instead of adopting it.
    @Test func aDefinitionWhoseCreationFailedIsCreatedAgainByTheNextRun() async throws {
        let h = try await ComputeTwinHarness.make()
        await h.azure.failNext(.beginCreateGalleryImage, code: "InternalOperationError", message: "Injected failure.")
        let failed = await h.run([h.action(.galleryDefinition)])
        #expect(!failed.succeeded)
        #expect(
            failed.failureText.contains("InternalOperationError") && failed.failureText.contains("Injected failure."),
            "\(failed.failureText)")
        let definitionID = try #require(try h.versionID().parent)
        #expect(try await h.azure.galleryImage(definitionID)?.provisioningState == .failed)

        let again = await h.run([h.action(.galleryDefinition)])
        #expect(again.succeeded, "\(again.failureText)")
        let definition = try #require(try await h.azure.galleryImage(definitionID))
        #expect(definition.provisioningState == .succeeded)
        #expect(definition.identifier?.publisher == "kiln" && definition.hyperVGeneration == "V2")
        #expect(await h.azure.count(.beginCreateGalleryImage) == 2)
        #expect(await h.azure.count(.beginCreateGallery) == 1)
    }

    @Test func theDefinitionsGenerationComesFromTheSourceBeforeTheDiskExists() async throws {
        let version =
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/src/images/base/versions/1.0.0"
        let h = try await ComputeTwinHarness.make(source: "{galleryImageVersion: \(version)}")
        let sourceID = try #require(h.desired.sourceID)
        let sourceDefinition = try #require(sourceID.parent)
        let sourceGallery = try #require(sourceDefinition.parent)
        try await h.azure.beginCreateGallery(sourceGallery, AzureGallery(location: h.location)).waitUntilDone(
            timeout: .seconds(30))
        try await h.azure.beginCreateGalleryImage(
            sourceDefinition,
            AzureGalleryImage(
                location: h.location, osType: "Linux", osState: "Generalized",
                identifier: .init(publisher: "p", offer: "o", sku: "s"),
                hyperVGeneration: "V1")
        ).waitUntilDone(timeout: .seconds(30))
        let action = h.action(.galleryDefinition)
        #expect(try await h.environment.sourceHyperVGeneration(h.desired, action: action) == "V1")
        var pinned = h.desired
        pinned.build.disk.hyperVGeneration = .v2
        #expect(try await h.environment.sourceHyperVGeneration(pinned, action: action) == "V2")
    }

    /// Publishes the build's version without waiting (the gallery and definition made
    /// first), with replication taking `replication`.
    private func startPublishing(_ h: ComputeTwinHarness, replication: Duration) async throws {
        let os = h.action(.createDisk, "os")
        #expect(await h.run([os, h.action(.galleryDefinition)]).succeeded)
        await h.azure.setLatency(replication, for: .beginCreateGalleryImageVersion)
        let body = try GalleryVersionExecutor(env: h.environment).versionBody(
            h.desired, try #require(h.desired.gallery), location: h.location,
            action: h.action(.galleryVersion))
        _ = try await h.azure.beginCreateGalleryImageVersion(try h.versionID(), body)
    }

    @Test func replicateWaitsUntilItsRegionIsCompleted() async throws {
        let h = try await ComputeTwinHarness.make()
        try await startPublishing(h, replication: .seconds(1800))
        let started = h.clock.elapsed
        let events = CollectingEventSink()
        let east = h.action(.replicate, "eastus", change: .wait)
        let result = await h.run([east], events: events)
        #expect(result.succeeded, "\(result.failureText)")
        let status = try await h.azure.galleryImageVersion(h.versionID(), replicationStatus: true)?.replication
        #expect(status?.regions?.first { $0.region == "eastus" }?.state == .completed)
        // It polled (every 10 s) for the half hour replication took, reporting progress.
        #expect(h.clock.elapsed - started >= .seconds(1800))
        let progress = events.progress(east.id)
        #expect(progress.contains { $0.hasPrefix("eastus ") && $0.hasSuffix("%") }, "\(progress)")
        #expect(progress.last == "eastus Completed")
    }

    @Test func replicateGivesUpAfterTheReplicationTimeoutAndSaysReplicationGoesOn() async throws {
        let h = try await ComputeTwinHarness.make()
        try await startPublishing(h, replication: h.desired.build.timeouts.replication.duration + .seconds(3600))
        let result = await h.run([h.action(.replicate, "eastus", change: .wait)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("did not complete within"), "\(result.failureText)")
        #expect(result.failureText.contains("it goes on in Azure"), "\(result.failureText)")
    }

    @Test func replicateFailsWithAzuresDetailsWhenTheRegionFails() async throws {
        let h = try await ComputeTwinHarness.make()
        try await startPublishing(h, replication: .seconds(600))
        await h.azure.failReplication(of: try h.versionID(), to: "eastus", details: "Quota exceeded in eastus.")
        let result = await h.run([h.action(.replicate, "eastus", change: .wait)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("to eastus failed: Quota exceeded in eastus."), "\(result.failureText)")
    }

    @Test func replicateFailsClearlyWhenTheVersionIsMissing() async throws {
        let h = try await ComputeTwinHarness.make()
        let result = await h.run([h.action(.replicate, "eastus", change: .wait)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("does not exist"), "\(result.failureText)")
    }

    @Test func updateGalleryVersionRepairsThePublishingProfile() async throws {
        let h = try await ComputeTwinHarness.make()
        let os = h.action(.createDisk, "os")
        let definition = h.action(.galleryDefinition)
        let version = h.action(.galleryVersion, after: [os.id, definition.id])
        #expect(await h.run([os, definition, version]).succeeded)
        let versionID = try h.versionID()
        // Drift behind Kiln's back: one region dropped, excluded from latest, an end of life.
        try await h.azure.beginUpdatePublishingProfile(
            versionID,
            PublishingProfile(
                targetRegions: [.init(name: h.location, replicas: 1, storageAccountType: "Standard_LRS")],
                excludeFromLatest: true,
                endOfLifeDate: "2030-01-01")
        ).waitUntilDone(timeout: .seconds(30))

        let result = await h.run([h.action(.updateGalleryVersion, change: .update)])
        #expect(result.succeeded, "\(result.failureText)")
        let profile = try await h.azure.galleryImageVersion(versionID, replicationStatus: false)?.publishingProfile
        #expect(Set((profile?.targetRegions ?? []).map { RegionName.normalized($0.name) }) == [h.location, "eastus"])
        #expect(profile?.excludeFromLatest == false)
        #expect(profile?.endOfLifeDate == nil)
    }

    @Test func updateGalleryVersionRefusesAVersionWithoutThisBuildsDigest() async throws {
        let h = try await ComputeTwinHarness.make()
        try await startPublishing(h, replication: .zero)
        await h.azure.setTags(of: try h.versionID(), ["kiln:digest": "sha256:" + String(repeating: "2", count: 64)])
        let result = await h.run([h.action(.updateGalleryVersion, change: .update)])
        #expect(!result.succeeded)
        #expect(result.failureText.contains("does not carry this build's digest"), "\(result.failureText)")
        #expect(await h.azure.count(.beginUpdatePublishingProfile) == 0)
    }
}
