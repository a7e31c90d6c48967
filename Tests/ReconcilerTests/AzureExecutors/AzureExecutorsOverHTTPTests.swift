import AzureEmulator
import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

/// The Azure-side executors against an in-process emulator over HTTP, run by the real
/// scheduler with an in-memory journal: what goes over the wire (request bodies, PUT
/// counts, re-joined operation URLs, a PATCH's merge semantics, injected faults). The
/// executors' logic is tested on the in-memory twin (`AzureExecutorsTests`).
@Suite struct AzureExecutorsOverHTTPTests {
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
            #expect(
                image.hasSuffix(
                    "/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/\(AzureExecutorHarness.platformVersion)"
                ))
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
            let started = try await ArmCompute(h.arm).beginCreateDisk(
                id, executor.diskBody(h.desired, role: .os, action: pending))
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

    @Test func galleryVersionCreatesTheMissingGalleryAndDefinitionAndReplicatesToBothRegions() async throws {
        try await AzureExecutorHarness.with { h in
            try await h.setLatency(#"{"versionPerRegion": 0.1}"#)
            let ensure = h.action(.galleryDefinition)
            let os = h.action(.createDisk, "os")
            let version = h.action(.galleryVersion, after: [os.id, ensure.id])
            let west = h.action(.replicate, h.endpoints.location, after: [version.id], change: .wait)
            let east = h.action(.replicate, "eastus", after: [version.id], change: .wait)
            let events = CollectingEventSink()
            let result = await h.run([ensure, os, version, west, east], events: events)
            #expect(result.succeeded, "\(result.failureText)")

            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent)
            let galleryID = try #require(definitionID.parent)
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
            // Made straight from the disk.
            #expect(
                published.properties?.storageProfile?.osDiskImage?.source?.id?.lowercased()
                    == h.desired.diskID(.os).description.lowercased())
            #expect(result.outputs.first?.galleryImageVersionID?.lowercased() == versionID.description.lowercased())
            // Progress, when a poll caught the operation running, is the operation's own percentage.
            #expect(events.progress(version.id).allSatisfy { $0.hasPrefix("replicating to ") })
            // Replication is complete when the version's operation ends: no read to learn it.
            #expect(events.progress(east.id).last == "eastus Completed")

            // Published and current: a second apply adopts it.
            let again = await h.run([h.action(.galleryVersion)])
            #expect(again.succeeded, "\(again.failureText)")
            #expect(try await h.puts(to: "1.0.0") == 1)
        }
    }

    @Test func aDefinitionWhoseCreationFailedIsCreatedAgainByTheNextRun() async throws {
        try await AzureExecutorHarness.with { h in
            _ = try await h.control(
                .put, "/faults",
                body:
                    #"[{"kind": "failOperation", "method": "PUT", "path": "*/galleries/*/images/*", "times": 1, "code": "InternalOperationError", "message": "Injected failure."}]"#
            )
            let failed = await h.run([h.action(.galleryDefinition)])
            #expect(!failed.succeeded)
            #expect(
                failed.failureText.contains("InternalOperationError")
                    && failed.failureText.contains("Injected failure."), "\(failed.failureText)")
            let versionID = try #require(h.desired.gallery?.id)
            let definitionID = try #require(versionID.parent)
            #expect(try await h.arm.getGalleryImage(definitionID)?.properties?.provisioningState == "Failed")

            let again = await h.run([h.action(.galleryDefinition)])
            #expect(again.succeeded, "\(again.failureText)")
            let definition = try #require(try await h.arm.getGalleryImage(definitionID))
            #expect(definition.properties?.provisioningState == "Succeeded")
            #expect(
                definition.properties?.identifier?.publisher == "kiln"
                    && definition.properties?.hyperVGeneration == "V2")
            #expect(try await h.puts(to: "web") == 2)
            #expect(try await h.puts(to: "kilngallery") == 1)
        }
    }

    @Test func updateGalleryVersionRepairsThePublishingProfile() async throws {
        try await AzureExecutorHarness.with { h in
            let os = h.action(.createDisk, "os")
            let definition = h.action(.galleryDefinition)
            let version = h.action(.galleryVersion, after: [os.id, definition.id])
            #expect(await h.run([os, definition, version]).succeeded)
            let versionID = try #require(h.desired.gallery?.id)
            // Drift behind Kiln's back: one region dropped, excluded from latest, an end of life.
            let drift = ArmGalleryImageVersionUpdate(
                properties: .init(
                    publishingProfile: .init(
                        targetRegions: [
                            .init(
                                name: h.endpoints.location, regionalReplicaCount: 1, storageAccountType: "Standard_LRS")
                        ], excludeFromLatest: true,
                        endOfLifeDate: "2030-01-01")))
            _ = try await h.arm.beginUpdateGalleryImageVersion(versionID, drift).wait(timeout: .seconds(30))
            // Azure answers the date-time in its own spelling.
            #expect(
                try await h.arm.getGalleryImageVersion(versionID)?.properties?.publishingProfile?.endOfLifeDate
                    == "2030-01-01T00:00:00+00:00")

            let result = await h.run([h.action(.updateGalleryVersion, change: .update)])
            #expect(result.succeeded, "\(result.failureText)")
            let profile = try await h.arm.getGalleryImageVersion(versionID)?.properties?.publishingProfile
            #expect(
                Set((profile?.targetRegions ?? []).map { RegionName.normalized($0.name) }) == [
                    h.endpoints.location, "eastus"
                ])
            #expect(profile?.excludeFromLatest == false)
            #expect(profile?.endOfLifeDate == nil)
        }
    }

    @Test func createDiskFromAGalleryImageVersionTakesItsDataDiskAtTheSameLUN() async throws {
        let version =
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/src/images/base/versions/1.0.0"
        try await AzureExecutorHarness.with(
            dataDisks: "[{lun: 1, origin: source}]", source: "{galleryImageVersion: \(version)}"
        ) { h in
            let versionID = try #require(h.desired.sourceID)
            let definitionID = try #require(versionID.parent)
            let galleryID = try #require(definitionID.parent)
            let osID = try h.diskID(.os).description.replacingOccurrences(of: "kiln-web", with: "src")
            let dataID = osID + "-data"
            let image =
                "/subscriptions/\(h.vm.subscription)/providers/Microsoft.Compute/locations/\(h.endpoints.location)/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/\(AzureExecutorHarness.platformVersion)"
            _ = try await h.arm.beginCreateDisk(
                ResourceID(parsing: osID),
                ArmDisk(
                    location: h.endpoints.location,
                    properties: .init(
                        creationData: .init(createOption: "FromImage", imageReference: .init(id: image))))
            ).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateDisk(
                ResourceID(parsing: dataID),
                ArmDisk(
                    location: h.endpoints.location,
                    properties: .init(
                        creationData: .init(createOption: "Empty"), diskSizeGB: 3))
            ).wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGallery(galleryID, ArmGallery(location: h.endpoints.location)).wait(
                timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImage(
                definitionID,
                ArmGalleryImage(
                    location: h.endpoints.location,
                    properties: .init(
                        osType: "Linux", osState: "Generalized",
                        identifier: .init(publisher: "p", offer: "o", sku: "s"), hyperVGeneration: "V2"))
            )
            .wait(timeout: .seconds(30))
            _ = try await h.arm.beginCreateGalleryImageVersion(
                versionID,
                ArmGalleryImageVersion(
                    location: h.endpoints.location,
                    properties: .init(
                        publishingProfile: nil,
                        storageProfile: .init(
                            osDiskImage: .init(source: ArmSubResource(id: osID)),
                            dataDiskImages: [.init(lun: 1, source: ArmSubResource(id: dataID))])))
            ).wait(timeout: .seconds(30))

            let result = await h.run([h.action(.createDisk, "os"), h.action(.createDisk, "lun1")])
            #expect(result.succeeded, "\(result.failureText)")
            let os = try #require(try await h.arm.getDisk(h.diskID(.os)))
            #expect(
                os.properties?.creationData?.galleryImageReference?.id?.lowercased()
                    == versionID.description.lowercased())
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
                while await phases(store, "web/create-disk[os]").last?.hasPrefix("started") != true {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            interrupts.interrupt()
            let first = await running.value
            #expect(first.interrupted)
            let journaled = try #require(await phases(store, "web/create-disk[os]").last)
            #expect(journaled.hasPrefix("started "))

            // The next run finds the action in flight and waits for the same operation.
            let rejoin = h.action(
                .createDisk, "os", status: .inFlight, operation: String(journaled.dropFirst("started ".count)))
            let second = await h.run([rejoin], store: store)
            #expect(second.succeeded, "\(second.failureText)")
            #expect(try await h.arm.getDisk(h.diskID(.os))?.properties?.provisioningState == "Succeeded")
            #expect(try await h.puts(to: h.desired.diskName(.os)) == 1)
        }
    }

    @Test func aBareOperationURLInTheJournalIsStillRejoinable() async throws {
        try await AzureExecutorHarness.with { h in
            let id = try h.diskID(.os)
            let url =
                "\(h.endpoints.arm)/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/abc?api-version=2024-03-02"
            let handle = try #require(
                AzureOperations.decode(url, fallbackMethod: .delete, resource: id, azure: ArmCompute(h.arm)))
            #expect(handle.method == .delete)
            #expect(handle.asyncOperationURL?.absoluteString == url)
            #expect(handle.resource == id.description)
            #expect(
                AzureOperations.decode("not a handle", fallbackMethod: .put, resource: id, azure: ArmCompute(h.arm))
                    == nil)
        }
    }
}
