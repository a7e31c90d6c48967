import AzureEmulator
import Foundation
import Model
@testable import Planner
import Providers
@testable import Reconciler
import TestSupport
import Testing

/// How many reads the observer spends (issue 6, no-op plan): none on a build's temporary disk
/// and snapshot when this run's journal records them deleted and the listing does not show
/// them, a GET as before whenever they may exist; one listing per temporary resource group
/// shared by its builds; the builder VM only when some build has a disk of Kiln's. A
/// converged manifest of N builds costs N image GETs, N version GETs, one listing and one
/// platform-image version list.
@Suite struct ObserverReadsTests {
    static func deletedJournal(_ d: DesiredBuild) -> BuildJournal {
        BuildJournal(build: d.name, header: JournalHeader(run: d.runID), entries: [
            JournalEntry(actionID: ActionID(d.name, .deleteDisk(.os)).description, phase: .done(result: [:])),
            JournalEntry(actionID: ActionID(d.name, .deleteSnapshot(.os)).description, phase: .done(result: [:])),
        ])
    }

    /// The journal of a run that finished: it deleted its temporaries and published `d`'s
    /// digest (what `kiln apply` records when all of a build's actions are done).
    static func finishedJournal(_ d: DesiredBuild, digest: BuildDigest? = nil) throws -> BuildJournal {
        var journal = deletedJournal(d)
        journal.header.published = digest ?? d.digest
        return journal
    }

    /// Observes the harness's build with `journal` as its journal view; returns what was
    /// observed (by build name) and the reads it took.
    static func observeCounting(_ h: AzureExecutorHarness, journal: BuildJournal) async throws -> (observed: [String: ObservedBuild], reads: Reads) {
        let before = try await h.requests().count
        let observer = Observer(arm: h.arm, devices: h.devices, mounts: InMemoryMountManager(), journals: InMemoryJournalStore())
        let observed = try await observer.observe([h.desired], vm: BuilderVM(id: h.vm, location: h.endpoints.location),
                                                  journals: [h.desired.name: Observer.view(of: journal)])
        return (observed, Reads(Array(try await h.requests().dropFirst(before))))
    }

    static func observe(_ h: AzureExecutorHarness, journal: BuildJournal?) async throws -> ObservedBuild {
        let store = InMemoryJournalStore(journals: journal.map { [$0] } ?? [])
        let mounts = InMemoryMountManager()
        let observer = Observer(arm: h.arm, devices: h.devices, mounts: mounts, journals: store)
        return try await observer.observe(h.desired, attached: [:], table: try await mounts.mountTable())
    }

    /// GETs of the build's temporary disk or snapshot in the emulator's request log.
    static func temporaryReads(_ h: AzureExecutorHarness) async throws -> Int {
        let names = [h.desired.diskID(.os), h.desired.snapshotID(.os)].map { $0.description.lowercased() }
        return try await h.requests().filter { $0.method == "GET" && names.contains($0.path.lowercased()) }.count
    }

    @Test func temporariesThisRunDeletedAreNotRead() async throws {
        try await AzureExecutorHarness.with { h in
            let o = try await Self.observe(h, journal: Self.deletedJournal(h.desired))
            #expect(o.disks.isEmpty && o.snapshots.isEmpty)
            #expect(try await Self.temporaryReads(h) == 0)
        }
    }

    @Test func withoutTheJournalTheTemporariesAreRead() async throws {
        try await AzureExecutorHarness.with { h in
            let o = try await Self.observe(h, journal: nil)
            #expect(o.disks.isEmpty && o.snapshots.isEmpty)
            #expect(try await Self.temporaryReads(h) == 2)
        }
    }

    @Test func aDiskMadeAgainIsReadDespiteTheJournal() async throws {
        try await AzureExecutorHarness.with { h in
            let created = await h.run([h.action(.createDisk, "os")])
            #expect(created.succeeded, "\(created.failureText)")
            let o = try await Self.observe(h, journal: Self.deletedJournal(h.desired))
            #expect(o.disks[.os] != nil, "the disk carries the build's tag, so the listing shows it and it is read")
            #expect(o.snapshots.isEmpty)
        }
    }

    @Test func anotherRunsJournalDoesNotSkipReads() async throws {
        try await AzureExecutorHarness.with { h in
            var journal = Self.deletedJournal(h.desired)
            journal.header.run = "0000000000"
            _ = try await Self.observe(h, journal: journal)
            #expect(try await Self.temporaryReads(h) == 2)
        }
    }

    // MARK: Shared reads of whole plans

    /// The ARM reads (GETs under /subscriptions) of the emulator's request log, by kind.
    struct Reads: Equatable, CustomStringConvertible {
        var images = 0, versions = 0, listings = 0, platformLists = 0, vms = 0, temporaries = 0, other = 0
        var total: Int { images + versions + listings + platformLists + vms + temporaries + other }
        var description: String {
            "images \(images), versions \(versions), listings \(listings), platform lists \(platformLists), VM \(vms), temporaries \(temporaries), other \(other)"
        }

        init(images: Int = 0, versions: Int = 0, listings: Int = 0, platformLists: Int = 0, vms: Int = 0, temporaries: Int = 0) {
            (self.images, self.versions, self.listings, self.platformLists, self.vms, self.temporaries) = (images, versions, listings, platformLists, vms, temporaries)
        }

        init(_ requests: [(method: String, path: String)]) {
            for r in requests where r.method == "GET" {
                let path = r.path.lowercased()
                guard path.hasPrefix("/subscriptions/") else { continue }
                if path.hasSuffix("/resources") { listings += 1 }
                else if path.contains("/publishers/") { platformLists += 1 }
                else if path.contains("/virtualmachines/") { vms += 1 }
                else if path.contains("/galleries/") { versions += 1 }
                else if path.contains("/images/") { images += 1 }
                else if path.contains("/disks/") || path.contains("/snapshots/") { temporaries += 1 }
                else { other += 1 }
            }
        }
    }

    /// `count` builds like the quick start's (a managed image and a gallery version each, from
    /// the `latest` Ubuntu platform image unless `source`, YAML flow text), temporaries in the
    /// builder VM's resource group.
    static func manifest(_ h: AzureExecutorHarness, builds count: Int, source: String = "{platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}",
                         in dir: TemporaryDirectory) throws -> Manifest {
        let (sub, rg) = (h.vm.subscription, h.vm.resourceGroup)
        let builds = (0..<count).map { i in
            """
              - name: noop-\(i)
                source: \(source)
                provision:
                  - name: motd
                    shell: [echo hi > /etc/motd]
                outputs:
                  image: {id: /subscriptions/\(sub)/resourceGroups/\(rg)/providers/Microsoft.Compute/images/noop-\(i)}
                  gallery: {resourceGroup: \(rg), gallery: kilngallery, imageDefinition: noop-\(i), version: 1.0.0}
            """
        }
        let result = try loadManifest("builds:\n" + builds.joined(separator: "\n"), in: dir)
        return try #require(result.manifest, "\(result.errors)")
    }

    /// What `kiln plan` reads: resolves `latest`, renders the builds and observes them with
    /// the journals `journal` gives (none for nil). Returns the builds, what was observed
    /// and the reads of the whole plan.
    static func plan(_ h: AzureExecutorHarness, _ manifest: Manifest, journal: (DesiredBuild) -> BuildJournal? = { deletedJournal($0) })
        async throws -> (desired: [DesiredBuild], observed: [String: ObservedBuild], reads: Reads) {
        let before = try await h.requests().count
        let vm = BuilderVM(id: h.vm, location: h.endpoints.location)
        let observer = Observer(arm: h.arm, devices: h.devices, mounts: InMemoryMountManager(), journals: InMemoryJournalStore())
        let versions = try await observer.resolveVersions(manifest, vm: vm, subscription: h.vm.subscription)
        let desired = try DesiredState.builds(manifest, vm: vm, resolvedVersions: versions)
        let journals = Dictionary(uniqueKeysWithValues: desired.map { d in (d.name, journal(d).map(Observer.view(of:)) ?? JournalView()) })
        let observed = try await observer.observe(desired, vm: vm, journals: journals)
        let reads = Reads(Array(try await h.requests().dropFirst(before)))
        return (desired, observed, reads)
    }

    /// Creates an empty disk (or a snapshot of an untagged empty disk) tagged as `build`'s,
    /// of run `run`.
    static func createTagged(_ h: AzureExecutorHarness, _ id: ResourceID, build: String, run: String) async throws {
        let tags = ["kiln:build": build, "kiln:run": run]
        if id.isType("Microsoft.Compute/snapshots") {
            let source = try leftoverID(h, "disks", id.name + "-source")
            _ = try await h.arm.beginCreateDisk(source, ArmDisk(location: h.endpoints.location, properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
                .wait(timeout: .seconds(60))
            _ = try await h.arm.beginCreateSnapshot(id, ArmSnapshot(location: h.endpoints.location, tags: tags, sku: ArmSku(name: "Standard_LRS"),
                                                                    properties: .init(creationData: .init(createOption: "Copy", sourceResourceId: source.description))))
                .wait(timeout: .seconds(60))
        } else {
            _ = try await h.arm.beginCreateDisk(id, ArmDisk(location: h.endpoints.location, tags: tags, sku: ArmSku(name: "Standard_LRS"),
                                                            properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
                .wait(timeout: .seconds(60))
        }
    }

    static func leftoverID(_ h: AzureExecutorHarness, _ type: String, _ name: String) throws -> ResourceID {
        try ResourceID(parsing: "/subscriptions/\(h.vm.subscription)/resourceGroups/\(h.vm.resourceGroup)/providers/Microsoft.Compute/\(type)/\(name)")
    }

    @Test func aConvergedBuildCostsItsOutputsOneListingAndThePlatformList() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (_, observed, reads) = try await Self.plan(h, try Self.manifest(h, builds: 1, in: dir))
            // Before issue 6's shared reads: 5 (the same plus a listing per build and the VM).
            #expect(reads == Reads(images: 1, versions: 1, listings: 1, platformLists: 1), "\(reads)")
            #expect(reads.total == 4)
            #expect(observed["noop-0"]?.leftovers.isEmpty == true)
        }
    }

    @Test func sixteenConvergedBuildsShareTheListingAndSkipTheVM() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (desired, observed, reads) = try await Self.plan(h, try Self.manifest(h, builds: 16, in: dir))
            #expect(desired.count == 16 && observed.count == 16)
            // Before: 50 (16 listings and the VM besides the 32 output GETs and the platform list).
            #expect(reads == Reads(images: 16, versions: 16, listings: 1, platformLists: 1), "\(reads)")
            #expect(reads.total == 34)
        }
    }

    @Test func finishedRunsJournalsSpareTheListing() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let one = try await Self.plan(h, try Self.manifest(h, builds: 1, in: dir), journal: { try? Self.finishedJournal($0) })
            // One GET per output, and the `latest` source's version list.
            #expect(one.reads == Reads(images: 1, versions: 1, platformLists: 1), "\(one.reads)")
            let sixteen = try await Self.plan(h, try Self.manifest(h, builds: 16, in: dir), journal: { try? Self.finishedJournal($0) })
            #expect(sixteen.reads == Reads(images: 16, versions: 16, platformLists: 1), "\(sixteen.reads)")
            #expect(sixteen.reads.total == 33)
            // A pinned platform image needs no resolving: one read per output, nothing else.
            let pinned = try await Self.plan(h, try Self.manifest(h, builds: 1, source: "{platformImage: 'Canonical:ubuntu-24_04-lts:server:24.04.202502010'}", in: dir),
                                             journal: { try? Self.finishedJournal($0) })
            #expect(pinned.reads == Reads(images: 1, versions: 1), "\(pinned.reads)")
        }
    }

    @Test func aJournalThatDoesNotAccountForEverythingStillLists() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let manifest = try Self.manifest(h, builds: 1, in: dir)
            // A leftover of an older run, which only the listing can find.
            let old = try Self.leftoverID(h, "disks", "kiln-noop-0-0000000000-os")
            try await Self.createTagged(h, old, build: "noop-0", run: "0000000000")
            let other = try await Self.plan(h, manifest, journal: { d in
                var changed = d.digest
                changed.value = String(repeating: "0", count: 64)
                return try? Self.finishedJournal(d, digest: changed)
            })
            #expect(other.reads.listings == 1, "another published digest: \(other.reads)")
            #expect(other.observed["noop-0"]?.leftovers.count == 1)
            let failed = try await Self.plan(h, manifest, journal: { d in
                var journal = try? Self.finishedJournal(d)
                journal?.entries.append(JournalEntry(actionID: ActionID(d.name, .replicate(region: "westus")).description, phase: .failed(message: "Replication failed")))
                return journal
            })
            #expect(failed.reads.listings == 1, "a failed action: \(failed.reads)")
            let unfinished = try await Self.plan(h, manifest, journal: { d in
                var journal = try? Self.finishedJournal(d)
                journal?.entries.removeAll { $0.actionID.contains("delete-snapshot") }
                return journal
            })
            #expect(unfinished.reads.listings == 1, "a snapshot not deleted: \(unfinished.reads)")
        }
    }

    @Test func aFreshManifestReadsItsTemporariesButNotTheVM() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (_, observed, reads) = try await Self.plan(h, try Self.manifest(h, builds: 2, in: dir), journal: { _ in nil })
            // No journal: each build's disk and snapshot may exist, so they are read (404);
            // none exists, so no attachment can matter.
            #expect(reads == Reads(images: 2, versions: 2, listings: 1, platformLists: 1, temporaries: 4), "\(reads)")
            #expect(observed.values.allSatisfy { $0.disks.isEmpty && $0.leftovers.isEmpty })
        }
    }

    @Test func aDiskOfTheCurrentRunAttachedReadsTheVMOnce() async throws {
        try await AzureExecutorHarness.with { h in
            let created = await h.run([h.action(.createDisk, "os")])
            #expect(created.succeeded, "\(created.failureText)")
            let lun = try await h.arm.attachDataDisk(try h.diskID(.os), to: h.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60))
            // The run's journal shows the attach done: nothing is deleted, the disk is read.
            let journal = BuildJournal(build: h.desired.name, header: JournalHeader(run: h.desired.runID), entries: [
                JournalEntry(actionID: ActionID(h.desired.name, .createDisk(.os)).description, phase: .done(result: [:])),
                JournalEntry(actionID: ActionID(h.desired.name, .attach(.os)).description, phase: .done(result: [:])),
            ])
            let (observed, reads) = try await Self.observeCounting(h, journal: journal)
            #expect(observed[h.desired.name]?.disks[.os]?.builderLUN == lun)
            #expect(reads == Reads(images: 1, versions: 1, listings: 1, vms: 1, temporaries: 2), "\(reads)")
        }
    }

    @Test func aCrashedRunsDiskWithTheJournalLostReadsTheVM() async throws {
        try await AzureExecutorHarness.with { h in
            let created = await h.run([h.action(.createDisk, "os")])
            #expect(created.succeeded, "\(created.failureText)")
            let before = try await h.requests().count
            let observer = Observer(arm: h.arm, devices: h.devices, mounts: InMemoryMountManager(), journals: InMemoryJournalStore())
            let observed = try await observer.observe([h.desired], vm: BuilderVM(id: h.vm, location: h.endpoints.location))
            let reads = Reads(Array(try await h.requests().dropFirst(before)))
            let disk = try #require(observed[h.desired.name]?.disks[.os])
            #expect(disk.builderLUN == nil && disk.attachedElsewhere == nil)
            #expect(reads.vms == 1, "\(reads)")
        }
    }

    @Test func aTaggedLeftoverDiskReadsTheVMAndIsSeenAttached() async throws {
        try await AzureExecutorHarness.with { h in
            let old = try Self.leftoverID(h, "disks", "kiln-\(h.desired.name)-0000000000-os")
            try await Self.createTagged(h, old, build: h.desired.name, run: "0000000000")
            _ = try await h.arm.attachDataDisk(old, to: h.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60))
            let (observed, reads) = try await Self.observeCounting(h, journal: Self.deletedJournal(h.desired))
            let leftovers = observed[h.desired.name]?.leftovers ?? []
            #expect(leftovers.map(\.id).map { $0.lowercased() } == [old.description.lowercased()])
            #expect(leftovers.first?.kind == .disk && leftovers.first?.attached == true && leftovers.first?.runID == "0000000000")
            #expect(reads == Reads(images: 1, versions: 1, listings: 1, vms: 1), "\(reads)")
        }
    }

    @Test func aLeftoverSnapshotAloneDoesNotReadTheVM() async throws {
        try await AzureExecutorHarness.with { h in
            let old = try Self.leftoverID(h, "snapshots", "kiln-\(h.desired.name)-0000000000-os-snap")
            try await Self.createTagged(h, old, build: h.desired.name, run: "0000000000")
            let (observed, reads) = try await Self.observeCounting(h, journal: Self.deletedJournal(h.desired))
            let leftovers = observed[h.desired.name]?.leftovers ?? []
            #expect(leftovers.count == 1 && leftovers.first?.kind == .snapshot && leftovers.first?.attached == false)
            #expect(reads == Reads(images: 1, versions: 1, listings: 1), "\(reads)")
        }
    }

    @Test func theSharedListingFindsEveryBuildsLeftoversAndOnlyThem() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let manifest = try Self.manifest(h, builds: 16, in: dir)
            for b in manifest.builds {
                try await Self.createTagged(h, try Self.leftoverID(h, "disks", "kiln-\(b.name)-0000000000-os"), build: b.name, run: "0000000000")
            }
            // Kiln's tag for a build not in the manifest: nobody's leftover here.
            try await Self.createTagged(h, try Self.leftoverID(h, "disks", "kiln-gone-0000000000-os"), build: "gone", run: "0000000000")
            let (desired, observed, reads) = try await Self.plan(h, manifest)
            for d in desired {
                let ids = (observed[d.name]?.leftovers ?? []).map { $0.id.lowercased() }
                #expect(ids == ["/subscriptions/\(h.vm.subscription)/resourcegroups/\(h.vm.resourceGroup)/providers/microsoft.compute/disks/kiln-\(d.name)-0000000000-os".lowercased()],
                        "\(d.name): \(ids)")
            }
            // Leftover disks may be attached: the VM is read, once for all builds.
            #expect(reads == Reads(images: 16, versions: 16, listings: 1, platformLists: 1, vms: 1), "\(reads)")
        }
    }

    @Test func buildsFromTheSameSourceShareItsRead() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let source = try Self.leftoverID(h, "disks", "noop-source")
            _ = try await h.arm.beginCreateDisk(source, ArmDisk(location: h.endpoints.location, properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
                .wait(timeout: .seconds(60))
            let manifest = try Self.manifest(h, builds: 4, source: "{disk: \(source)}", in: dir)
            let before = try await h.requests().count
            let (_, observed, reads) = try await Self.plan(h, manifest)
            let sourceReads = try await h.requests().dropFirst(before).filter { $0.method == "GET" && $0.path.lowercased() == source.description.lowercased() }
            #expect(sourceReads.count == 1)
            #expect(observed.values.allSatisfy { !$0.sourceMissing })
            // The source's GET is counted among disks; no platform list without `latest`.
            #expect(reads == Reads(images: 4, versions: 4, listings: 1, temporaries: 1), "\(reads)")
        }
    }
}
