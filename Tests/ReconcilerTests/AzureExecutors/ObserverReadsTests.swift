import Foundation
import Model
import Providers
import TestSupport
import Testing

@testable import Planner
@testable import Reconciler

/// How many reads the observer spends (issue 6, no-op plan), counted on the in-memory twin:
/// none on a build's temporary disk and snapshot when this run's journal records them
/// deleted and the listing does not show them, a read as before whenever they may exist;
/// one listing per temporary resource group shared by its builds; the builder VM only when
/// some build has a disk of Kiln's. A converged manifest of N builds (outputs published
/// with its digest) costs N image reads, N version reads, one listing and one platform-image
/// version list. Most builds below have no outputs yet (their runs' journals say finished,
/// but the twin is fresh): those also read their source once (a platform image version's
/// GET: its security type and generation) and their image definition (what it holds and
/// lets change), which a plan that still has an output to make needs (issue 15).
@Suite struct ObserverReadsTests {
    typealias Reads = ObserverReadsOverHTTPTests.Reads
    typealias Twin = InMemoryCompute<VirtualClock>

    static func deletedJournal(_ d: DesiredBuild) -> BuildJournal { ObserverReadsOverHTTPTests.deletedJournal(d) }

    static func finishedJournal(_ d: DesiredBuild, digest: BuildDigest? = nil) throws -> BuildJournal {
        try ObserverReadsOverHTTPTests.finishedJournal(d, digest: digest)
    }

    static func observer(_ h: ComputeTwinHarness, journals: InMemoryJournalStore = InMemoryJournalStore()) -> Observer {
        Observer(azure: h.azure, devices: h.devices, mounts: InMemoryMountManager(), journals: journals)
    }

    /// Observes the harness's build with `journal` as its journal view; returns what was
    /// observed (by build name) and the reads it took.
    static func observeCounting(
        _ h: ComputeTwinHarness, journal: BuildJournal
    ) async throws -> (observed: [String: ObservedBuild], reads: Reads) {
        await h.azure.resetCalls()
        let observed = try await observer(h).observe(
            [h.desired], vm: BuilderVM(id: h.vm, location: h.location),
            journals: [h.desired.name: Observer.view(of: journal)])
        return (observed, Reads(await h.azure.calls))
    }

    static func observe(_ h: ComputeTwinHarness, journal: BuildJournal?) async throws -> ObservedBuild {
        let mounts = InMemoryMountManager()
        let observer = Observer(
            azure: h.azure, devices: h.devices, mounts: mounts,
            journals: InMemoryJournalStore(journals: journal.map { [$0] } ?? []))
        return try await observer.observe(h.desired, attached: [:], table: try await mounts.mountTable())
    }

    /// Reads of the build's temporary disk or snapshot.
    static func temporaryReads(_ h: ComputeTwinHarness) async throws -> Int {
        try await h.azure.count(.disk, resource: h.diskID(.os)) + h.azure.count(.snapshot, resource: h.snapshotID(.os))
    }

    /// `count` builds like the quick start's, temporaries in the builder VM's resource group.
    static func manifest(
        _ h: ComputeTwinHarness, builds count: Int,
        source: String = "{platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}", in dir: TemporaryDirectory
    ) throws -> Manifest {
        try ObserverReadsOverHTTPTests.noopManifest(
            subscription: ComputeTwinHarness.subscription, resourceGroup: ComputeTwinHarness.resourceGroup,
            builds: count, source: source, in: dir)
    }

    /// What `kiln plan` reads: resolves `latest`, renders the builds and observes them.
    static func plan(
        _ h: ComputeTwinHarness, _ manifest: Manifest, journal: (DesiredBuild) -> BuildJournal? = { deletedJournal($0) }
    )
        async throws -> (desired: [DesiredBuild], observed: [String: ObservedBuild], reads: Reads)
    {
        await h.azure.resetCalls()
        let vm = BuilderVM(id: h.vm, location: h.location)
        let observer = observer(h)
        let versions = try await observer.resolveVersions(
            manifest, vm: vm, subscription: ComputeTwinHarness.subscription)
        let desired = try DesiredState.builds(manifest, vm: vm, resolvedVersions: versions)
        let journals = Dictionary(
            uniqueKeysWithValues: desired.map { d in (d.name, journal(d).map(Observer.view(of:)) ?? JournalView()) })
        let observed = try await observer.observe(desired, vm: vm, journals: journals)
        return (desired, observed, Reads(await h.azure.calls))
    }

    @Test func temporariesThisRunDeletedAreNotRead() async throws {
        let h = try await ComputeTwinHarness.make()
        let o = try await Self.observe(h, journal: Self.deletedJournal(h.desired))
        #expect(o.disks.isEmpty && o.snapshots.isEmpty)
        #expect(try await Self.temporaryReads(h) == 0)
    }

    /// Kiln tags what it makes with the build's name: without a journal of this run, a
    /// temporary the listing does not show does not exist, and is not read.
    @Test func withoutTheJournalOnlyWhatTheListingShowsIsRead() async throws {
        let h = try await ComputeTwinHarness.make()
        let o = try await Self.observe(h, journal: nil)
        #expect(o.disks.isEmpty && o.snapshots.isEmpty)
        #expect(try await Self.temporaryReads(h) == 0)
        #expect(await h.azure.count(.resources) == 1)

        #expect(await h.run([h.action(.createDisk, "os")]).succeeded)
        await h.azure.resetCalls()
        let made = try await Self.observe(h, journal: nil)
        #expect(made.disks[.os] != nil)
        #expect(try await Self.temporaryReads(h) == 1)
    }

    @Test func aDiskMadeAgainIsReadDespiteTheJournal() async throws {
        let h = try await ComputeTwinHarness.make()
        let created = await h.run([h.action(.createDisk, "os")])
        #expect(created.succeeded, "\(created.failureText)")
        let o = try await Self.observe(h, journal: Self.deletedJournal(h.desired))
        #expect(o.disks[.os] != nil, "the disk carries the build's tag, so the listing shows it and it is read")
        #expect(o.snapshots.isEmpty)
    }

    /// The journal of this run that says a disk is being made is read even when the
    /// listing (which may lag a resource made seconds ago) does not show it yet.
    @Test func aDiskThisRunIsMakingIsReadEvenIfNotListedYet() async throws {
        let h = try await ComputeTwinHarness.make()
        let journal = BuildJournal(
            build: h.desired.name, header: JournalHeader(run: h.desired.runID),
            entries: [JournalEntry(actionID: ActionID(h.desired.name, .createDisk(.os)).description, phase: .intent)])
        _ = try await Self.observe(h, journal: journal)
        #expect(try await h.azure.count(.disk, resource: h.diskID(.os)) == 1)
        // Another run's journal says nothing of this run's disk.
        var other = journal
        other.header.run = "0000000000"
        await h.azure.resetCalls()
        _ = try await Self.observe(h, journal: other)
        #expect(try await Self.temporaryReads(h) == 0)
    }

    @Test func aConvergedBuildCostsItsOutputsOneListingAndThePlatformList() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (_, observed, reads) = try await Self.plan(h, try Self.manifest(h, builds: 1, in: dir))
        #expect(reads == Reads(images: 1, versions: 2, listings: 1, platformLists: 2), "\(reads)")
        #expect(reads.total == 6)
        #expect(observed["noop-0"]?.leftovers.isEmpty == true)
    }

    @Test func sixteenConvergedBuildsShareTheListingAndSkipTheVM() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (desired, observed, reads) = try await Self.plan(h, try Self.manifest(h, builds: 16, in: dir))
        #expect(desired.count == 16 && observed.count == 16)
        #expect(reads == Reads(images: 16, versions: 32, listings: 1, platformLists: 2), "\(reads)")
    }

    @Test func finishedRunsJournalsSpareTheListing() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let one = try await Self.plan(
            h, try Self.manifest(h, builds: 1, in: dir), journal: { try? Self.finishedJournal($0) })
        #expect(one.reads == Reads(images: 1, versions: 2, platformLists: 2), "\(one.reads)")
        let sixteen = try await Self.plan(
            h, try Self.manifest(h, builds: 16, in: dir), journal: { try? Self.finishedJournal($0) })
        #expect(sixteen.reads == Reads(images: 16, versions: 32, platformLists: 2), "\(sixteen.reads)")
        // A pinned platform image needs no resolving: one read per output, nothing else.
        let pinned = try await Self.plan(
            h,
            try Self.manifest(
                h, builds: 1, source: "{platformImage: 'Canonical:ubuntu-24_04-lts:server:24.04.202502010'}", in: dir),
            journal: { try? Self.finishedJournal($0) })
        #expect(pinned.reads == Reads(images: 1, versions: 2, platformLists: 1), "\(pinned.reads)")
    }

    @Test func aJournalThatDoesNotAccountForEverythingStillLists() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try Self.manifest(h, builds: 1, in: dir)
        // A leftover of an older run, which only the listing can find.
        try await h.createEmpty(
            try h.id("disks", "kiln-noop-0-0000000000-os"), tags: ["kiln:build": "noop-0", "kiln:run": "0000000000"])
        let other = try await Self.plan(
            h, manifest,
            journal: { d in
                var changed = d.digest
                changed.value = String(repeating: "0", count: 64)
                return try? Self.finishedJournal(d, digest: changed)
            })
        #expect(other.reads.listings == 1, "another published digest: \(other.reads)")
        #expect(other.observed["noop-0"]?.leftovers.count == 1)
        let failed = try await Self.plan(
            h, manifest,
            journal: { d in
                var journal = try? Self.finishedJournal(d)
                journal?.entries.append(
                    JournalEntry(
                        actionID: ActionID(build: d.name, step: .replicate(region: "westus")).description,
                        phase: .failed(message: "Replication failed")))
                return journal
            })
        #expect(failed.reads.listings == 1, "a failed action: \(failed.reads)")
        let unfinished = try await Self.plan(
            h, manifest,
            journal: { d in
                var journal = try? Self.finishedJournal(d)
                journal?.entries.removeAll { $0.actionID.contains("delete-disk") }
                return journal
            })
        #expect(unfinished.reads.listings == 1, "a disk not deleted: \(unfinished.reads)")
    }

    /// A fresh manifest reads its outputs, one listing and the platform list: no temporary
    /// (nothing tagged with its builds is listed) and not the VM.
    @Test func aFreshManifestReadsNoTemporaryAndNotTheVM() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (_, observed, reads) = try await Self.plan(
            h, try Self.manifest(h, builds: 2, in: dir), journal: { _ in nil })
        #expect(reads == Reads(images: 2, versions: 4, listings: 1, platformLists: 2), "\(reads)")
        #expect(observed.values.allSatisfy { $0.disks.isEmpty && $0.leftovers.isEmpty })
    }

    @Test func aDiskOfTheCurrentRunAttachedReadsTheVMOnce() async throws {
        let h = try await ComputeTwinHarness.make()
        let created = await h.run([h.action(.createDisk, "os")])
        #expect(created.succeeded, "\(created.failureText)")
        let lun = try await h.attach(try h.diskID(.os))
        let journal = BuildJournal(
            build: h.desired.name, header: JournalHeader(run: h.desired.runID),
            entries: [
                JournalEntry(
                    actionID: ActionID(h.desired.name, .createDisk(.os)).description, phase: .done(result: [:])),
                JournalEntry(actionID: ActionID(h.desired.name, .attach(.os)).description, phase: .done(result: [:]))
            ])
        let (observed, reads) = try await Self.observeCounting(h, journal: journal)
        #expect(observed[h.desired.name]?.disks[.os]?.builderLUN == lun)
        #expect(
            reads == Reads(images: 1, versions: 2, listings: 1, platformLists: 1, vms: 1, temporaries: 1), "\(reads)")
    }

    @Test func aCrashedRunsDiskWithTheJournalLostReadsTheVM() async throws {
        let h = try await ComputeTwinHarness.make()
        let created = await h.run([h.action(.createDisk, "os")])
        #expect(created.succeeded, "\(created.failureText)")
        await h.azure.resetCalls()
        let observed = try await Self.observer(h).observe([h.desired], vm: BuilderVM(id: h.vm, location: h.location))
        let disk = try #require(observed[h.desired.name]?.disks[.os])
        #expect(disk.builderLUN == nil && disk.attachedElsewhere == nil)
        #expect(Reads(await h.azure.calls).vms == 1)
    }

    @Test func aTaggedLeftoverDiskReadsTheVMAndIsSeenAttached() async throws {
        let h = try await ComputeTwinHarness.make()
        let old = try h.id("disks", "kiln-\(h.desired.name)-0000000000-os")
        try await h.createEmpty(old, tags: ["kiln:build": h.desired.name, "kiln:run": "0000000000"])
        _ = try await h.attach(old)
        let (observed, reads) = try await Self.observeCounting(h, journal: Self.deletedJournal(h.desired))
        let leftovers = observed[h.desired.name]?.leftovers ?? []
        #expect(leftovers.map(\.id).map { $0.lowercased() } == [old.description.lowercased()])
        #expect(
            leftovers.first?.kind == .disk && leftovers.first?.attached == true
                && leftovers.first?.runID == "0000000000")
        #expect(reads == Reads(images: 1, versions: 2, listings: 1, platformLists: 1, vms: 1), "\(reads)")
    }

    @Test func aLeftoverSnapshotAloneDoesNotReadTheVM() async throws {
        let h = try await ComputeTwinHarness.make()
        let old = try h.id("snapshots", "kiln-\(h.desired.name)-0000000000-os-snap")
        try await h.createEmpty(old, tags: ["kiln:build": h.desired.name, "kiln:run": "0000000000"])
        let (observed, reads) = try await Self.observeCounting(h, journal: Self.deletedJournal(h.desired))
        let leftovers = observed[h.desired.name]?.leftovers ?? []
        #expect(leftovers.count == 1 && leftovers.first?.kind == .snapshot && leftovers.first?.attached == false)
        #expect(reads == Reads(images: 1, versions: 2, listings: 1, platformLists: 1), "\(reads)")
    }

    @Test func theSharedListingFindsEveryBuildsLeftoversAndOnlyThem() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try Self.manifest(h, builds: 16, in: dir)
        for b in manifest.builds {
            try await h.createEmpty(
                try h.id("disks", "kiln-\(b.name)-0000000000-os"),
                tags: ["kiln:build": b.name, "kiln:run": "0000000000"])
        }
        // Kiln's tag for a build not in the manifest: nobody's leftover here.
        try await h.createEmpty(
            try h.id("disks", "kiln-gone-0000000000-os"), tags: ["kiln:build": "gone", "kiln:run": "0000000000"])
        let (desired, observed, reads) = try await Self.plan(h, manifest)
        for d in desired {
            let ids = (observed[d.name]?.leftovers ?? []).map { $0.id.lowercased() }
            #expect(
                ids == [try h.id("disks", "kiln-\(d.name)-0000000000-os").description.lowercased()], "\(d.name): \(ids)"
            )
        }
        #expect(reads == Reads(images: 16, versions: 32, listings: 1, platformLists: 2, vms: 1), "\(reads)")
    }

    @Test func buildsFromTheSameSourceShareItsRead() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try h.id("disks", "noop-source")
        try await h.createEmpty(source)
        let (_, observed, reads) = try await Self.plan(
            h, try Self.manifest(h, builds: 4, source: "{disk: \(source)}", in: dir))
        #expect(await h.azure.count(.disk, resource: source) == 1)
        #expect(observed.values.allSatisfy { !$0.sourceMissing })
        #expect(reads == Reads(images: 4, versions: 8, listings: 1, temporaries: 1), "\(reads)")
    }

    @Test func aMissingGalleryVersionSourceIsSeenMissing() async throws {
        let version =
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/src/images/base/versions/1.0.0"
        let h = try await ComputeTwinHarness.make(source: "{galleryImageVersion: \(version)}")
        let o = try await Self.observe(h, journal: nil)
        #expect(o.sourceMissing)
    }

    @Test func aGalleryVersionStillReplicatingIsObservedWithItsRegionsProgress() async throws {
        let h = try await ComputeTwinHarness.make()
        let os = h.action(.createDisk, "os")
        #expect(await h.run([os, h.action(.galleryDefinition)]).succeeded)
        await h.azure.setLatency(.seconds(2400), for: .beginCreateGalleryImageVersion)
        let body = try GalleryVersionExecutor(env: h.environment).versionBody(
            h.desired, try #require(h.desired.gallery), location: h.location,
            action: h.action(.galleryVersion))
        _ = try await h.azure.beginCreateGalleryImageVersion(try h.versionID(), body)
        h.clock.advance(by: .seconds(600))

        let replicating = try #require(try await Self.observe(h, journal: nil).galleryVersion)
        #expect(replicating.resource.provisioningState == "Creating")
        #expect(replicating.digest == h.desired.digest.value)
        #expect(replicating.regions.map(\.state) == ["Replicating", "Replicating"])
        #expect(replicating.regions.first?.progress == 25)
        #expect(replicating.regions.first { $0.name == "eastus" }?.replicas == 2)

        h.clock.advance(by: .seconds(1800))
        let done = try #require(try await Self.observe(h, journal: nil).galleryVersion)
        #expect(done.resource.succeeded)
        #expect(done.regions.allSatisfy { $0.state == "Completed" })
    }
}

extension ObserverReadsTests {
    /// With both outputs published with the build's digest, the plan reads neither the
    /// source nor the image definition: one GET per output, the listing and `latest`'s list.
    @Test func aBuildWhoseOutputsAreCurrentReadsNeitherItsSourceNorItsDefinition() async throws {
        let h = try await ComputeTwinHarness.make()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try Self.manifest(h, builds: 1, in: dir)
        let d = try #require(try await Self.plan(h, manifest).desired.first)
        let version = try #require(d.gallery)
        let gallery = try #require(version.definitionID.parent)
        _ = try await h.azure.beginCreateGallery(gallery, AzureGallery(location: h.location))
        _ = try await h.azure.beginCreateGalleryImage(
            version.definitionID,
            AzureGalleryImage(
                location: h.location, osType: "Linux", osState: "Generalized",
                identifier: .init(publisher: "kiln", offer: "kilngallery", sku: "noop-0")))
        _ = try await h.azure.beginCreateImage(
            try #require(d.imageID),
            AzureImage(
                location: h.location, tags: d.tags, osType: "Linux", osState: "Generalized", osDisk: nil,
                hyperVGeneration: "V2"))
        _ = try await h.azure.beginCreateGalleryImageVersion(
            version.id,
            AzureGalleryImageVersion(location: h.location, tags: d.tags, publishingProfile: nil, osDisk: nil))
        for id in [try #require(d.imageID), version.id] { await h.azure.setProvisioningState(of: id, .succeeded) }

        let (_, observed, reads) = try await Self.plan(h, manifest)
        #expect(reads == Reads(images: 1, versions: 1, listings: 1, platformLists: 1), "\(reads)")
        #expect(observed["noop-0"]?.sourceRead == false)
        #expect(observed["noop-0"]?.definition == nil)
    }
}

extension ObserverReadsTests {
    /// `…/versions/latest` is the numerically highest version that succeeded and is not
    /// excluded from latest (issue 15): 1.0.9 here, not 1.0.10 (excluded) nor 1.0.2.
    @Test func aGallerySourcesLatestIsTheHighestVersionNotExcluded() async throws {
        let h = try await ComputeTwinHarness.make()
        let definition = try #require(try h.versionID().parent)
        _ = try await h.azure.beginCreateGallery(try #require(definition.parent), AzureGallery(location: h.location))
        _ = try await h.azure.beginCreateGalleryImage(
            definition,
            AzureGalleryImage(
                location: h.location, osType: "Linux", osState: "Generalized",
                identifier: .init(publisher: "p", offer: "o", sku: "s")))
        for (name, excluded) in [("1.0.9", false), ("1.0.10", true), ("1.0.2", false)] {
            let id = definition.child("versions", name)
            _ = try await h.azure.beginCreateGalleryImageVersion(
                id,
                AzureGalleryImageVersion(
                    location: h.location,
                    publishingProfile: PublishingProfile(targetRegions: nil, excludeFromLatest: excluded),
                    osDisk: nil))
            await h.azure.setProvisioningState(of: id, .succeeded)
        }
        #expect(try await Self.observer(h).latestGalleryVersion(of: definition) == "1.0.9")
        let empty = definition.parent!.child("images", "none")
        #expect(try await Self.observer(h).latestGalleryVersion(of: empty) == nil)
    }
}

extension ObserverReadsOverHTTPTests.Reads {
    /// The twin's reads, by the same kinds as the request log's.
    init(_ calls: [InMemoryCompute<VirtualClock>.RecordedCall]) {
        self.init()
        for c in calls {
            switch c.call {
            case .image: images += 1
            case .galleryImageVersion, .gallery, .galleryImage: versions += 1
            case .resources: listings += 1
            case .resolvePlatformImage, .platformImage: platformLists += 1
            case .dataDisks: vms += 1
            case .disk, .snapshot: temporaries += 1
            default: other += 1
            }
        }
    }
}
