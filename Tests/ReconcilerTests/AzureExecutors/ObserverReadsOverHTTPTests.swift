import AzureEmulator
import Foundation
import Model
import Providers
import TestSupport
import Testing

@testable import Planner
@testable import Reconciler

/// How many reads the observer spends (issue 6, no-op plan): none on a build's temporary disk
/// and snapshot when this run's journal records them deleted and the listing does not show
/// them, a GET as before whenever they may exist; one listing per temporary resource group
/// shared by its builds; the builder VM only when some build has a disk of Kiln's. A
/// converged manifest of N builds costs N image GETs, N version GETs, one listing and one
/// platform-image version list.
/// The same reads counted over HTTP in the emulator's request log, for the plans whose
/// request counts the benchmarks rely on; `ObserverReadsTests` covers the rest on the twin.
@Suite struct ObserverReadsOverHTTPTests {
    static func deletedJournal(_ d: DesiredBuild) -> BuildJournal {
        BuildJournal(
            build: d.name, header: JournalHeader(run: d.runID),
            entries: [
                JournalEntry(actionID: ActionID(d.name, .deleteDisk(.os)).description, phase: .done(result: [:]))
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
    static func observeCounting(_ h: AzureExecutorHarness, journal: BuildJournal) async throws -> (
        observed: [String: ObservedBuild], reads: Reads
    ) {
        let before = try await h.requests().count
        let observer = Observer(
            azure: ArmCompute(h.arm), devices: h.devices, mounts: InMemoryMountManager(),
            journals: InMemoryJournalStore())
        let observed = try await observer.observe(
            [h.desired], vm: BuilderVM(id: h.vm, location: h.endpoints.location),
            journals: [h.desired.name: Observer.view(of: journal)])
        return (observed, Reads(Array(try await h.requests().dropFirst(before))))
    }

    static func observe(_ h: AzureExecutorHarness, journal: BuildJournal?) async throws -> ObservedBuild {
        let store = InMemoryJournalStore(journals: journal.map { [$0] } ?? [])
        let mounts = InMemoryMountManager()
        let observer = Observer(azure: ArmCompute(h.arm), devices: h.devices, mounts: mounts, journals: store)
        return try await observer.observe(h.desired, attached: [:], table: try await mounts.mountTable())
    }

    /// GETs of the build's temporary disk or snapshot in the emulator's request log.
    static func temporaryReads(_ h: AzureExecutorHarness) async throws -> Int {
        let names = [h.desired.diskID(.os), h.desired.snapshotID(.os)].map { $0.description.lowercased() }
        return try await h.requests().filter { $0.method == "GET" && names.contains($0.path.lowercased()) }.count
    }

    // MARK: Shared reads of whole plans

    /// The ARM reads (GETs under /subscriptions) of the emulator's request log, by kind.
    struct Reads: Equatable, CustomStringConvertible {
        var images = 0, versions = 0, listings = 0, platformLists = 0, vms = 0, temporaries = 0, other = 0
        var total: Int { images + versions + listings + platformLists + vms + temporaries + other }
        var description: String {
            "images \(images), versions \(versions), listings \(listings), platform lists \(platformLists), VM \(vms), temporaries \(temporaries), other \(other)"
        }

        init(
            images: Int = 0, versions: Int = 0, listings: Int = 0, platformLists: Int = 0, vms: Int = 0,
            temporaries: Int = 0
        ) {
            (self.images, self.versions, self.listings, self.platformLists, self.vms, self.temporaries) = (
                images, versions, listings, platformLists, vms, temporaries
            )
        }

        init(_ requests: [(method: String, path: String)]) {
            for r in requests where r.method == "GET" {
                let path = r.path.lowercased()
                guard path.hasPrefix("/subscriptions/") else { continue }
                if path.hasSuffix("/resources") {
                    listings += 1
                } else if path.contains("/publishers/") {
                    platformLists += 1
                } else if path.contains("/virtualmachines/") {
                    vms += 1
                } else if path.contains("/galleries/") {
                    versions += 1
                } else if path.contains("/images/") {
                    images += 1
                } else if path.contains("/disks/") || path.contains("/snapshots/") {
                    temporaries += 1
                } else {
                    other += 1
                }
            }
        }
    }

    /// `count` builds like the quick start's (a managed image and a gallery version each, from
    /// the `latest` Ubuntu platform image unless `source`, YAML flow text), temporaries in the
    /// builder VM's resource group.
    static func manifest(
        _ h: AzureExecutorHarness, builds count: Int,
        source: String = "{platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}",
        in dir: TemporaryDirectory
    ) throws -> Manifest {
        try noopManifest(
            subscription: h.vm.subscription, resourceGroup: h.vm.resourceGroup, builds: count, source: source, in: dir)
    }

    /// `count` builds like the quick start's, named `noop-N`, publishing an image and a
    /// gallery version in `resourceGroup` (shared with `ObserverReadsTests`).
    static func noopManifest(
        subscription sub: String, resourceGroup rg: String, builds count: Int, source: String,
        in dir: TemporaryDirectory
    ) throws -> Manifest {
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
    static func plan(
        _ h: AzureExecutorHarness, _ manifest: Manifest,
        journal: (DesiredBuild) -> BuildJournal? = { deletedJournal($0) }
    )
        async throws -> (desired: [DesiredBuild], observed: [String: ObservedBuild], reads: Reads)
    {
        let before = try await h.requests().count
        let vm = BuilderVM(id: h.vm, location: h.endpoints.location)
        let observer = Observer(
            azure: ArmCompute(h.arm), devices: h.devices, mounts: InMemoryMountManager(),
            journals: InMemoryJournalStore())
        let versions = try await observer.resolveVersions(manifest, vm: vm, subscription: h.vm.subscription)
        let desired = try DesiredState.builds(manifest, vm: vm, resolvedVersions: versions)
        let journals = Dictionary(
            uniqueKeysWithValues: desired.map { d in (d.name, journal(d).map(Observer.view(of:)) ?? JournalView()) })
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
            _ = try await h.arm.beginCreateDisk(
                source,
                ArmDisk(
                    location: h.endpoints.location,
                    properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1))
            )
            .wait(timeout: .seconds(60))
            _ = try await h.arm.beginCreateSnapshot(
                id,
                ArmSnapshot(
                    location: h.endpoints.location, tags: tags, sku: ArmSku(name: "Standard_LRS"),
                    properties: .init(creationData: .init(createOption: "Copy", sourceResourceId: source.description)))
            )
            .wait(timeout: .seconds(60))
        } else {
            _ = try await h.arm.beginCreateDisk(
                id,
                ArmDisk(
                    location: h.endpoints.location, tags: tags, sku: ArmSku(name: "Standard_LRS"),
                    properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1))
            )
            .wait(timeout: .seconds(60))
        }
    }

    static func leftoverID(_ h: AzureExecutorHarness, _ type: String, _ name: String) throws -> ResourceID {
        try ResourceID(
            parsing:
                "/subscriptions/\(h.vm.subscription)/resourceGroups/\(h.vm.resourceGroup)/providers/Microsoft.Compute/\(type)/\(name)"
        )
    }

    @Test func sixteenConvergedBuildsShareTheListingAndSkipTheVM() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (desired, observed, reads) = try await Self.plan(h, try Self.manifest(h, builds: 16, in: dir))
            #expect(desired.count == 16 && observed.count == 16)
            // Before: 50 (16 listings and the VM besides the 32 output GETs and the platform list).
            #expect(reads == Reads(images: 16, versions: 32, listings: 1, platformLists: 2), "\(reads)")
            #expect(reads.total == 51)
        }
    }

    @Test func aFreshManifestReadsNoTemporaryAndNotTheVM() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (_, observed, reads) = try await Self.plan(
                h, try Self.manifest(h, builds: 2, in: dir), journal: { _ in nil })
            // No journal, and the listing shows nothing tagged with the builds: no disk of
            // theirs exists, so none is read (no 404s) and no attachment can matter.
            #expect(reads == Reads(images: 2, versions: 4, listings: 1, platformLists: 2), "\(reads)")
            #expect(observed.values.allSatisfy { $0.disks.isEmpty && $0.leftovers.isEmpty })
        }
    }

    @Test func aTaggedLeftoverDiskReadsTheVMAndIsSeenAttached() async throws {
        try await AzureExecutorHarness.with { h in
            let old = try Self.leftoverID(h, "disks", "kiln-\(h.desired.name)-0000000000-os")
            try await Self.createTagged(h, old, build: h.desired.name, run: "0000000000")
            _ = try await h.arm.attachDataDisk(
                old, to: h.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60))
            let (observed, reads) = try await Self.observeCounting(h, journal: Self.deletedJournal(h.desired))
            let leftovers = observed[h.desired.name]?.leftovers ?? []
            #expect(leftovers.map(\.id).map { $0.lowercased() } == [old.description.lowercased()])
            #expect(
                leftovers.first?.kind == .disk && leftovers.first?.attached == true
                    && leftovers.first?.runID == "0000000000")
            #expect(reads == Reads(images: 1, versions: 2, listings: 1, platformLists: 1, vms: 1), "\(reads)")
        }
    }

    @Test func buildsFromTheSameSourceShareItsRead() async throws {
        try await AzureExecutorHarness.with { h in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let source = try Self.leftoverID(h, "disks", "noop-source")
            _ = try await h.arm.beginCreateDisk(
                source,
                ArmDisk(
                    location: h.endpoints.location,
                    properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1))
            )
            .wait(timeout: .seconds(60))
            let manifest = try Self.manifest(h, builds: 4, source: "{disk: \(source)}", in: dir)
            let before = try await h.requests().count
            let (_, observed, reads) = try await Self.plan(h, manifest)
            let sourceReads = try await h.requests().dropFirst(before).filter {
                $0.method == "GET" && $0.path.lowercased() == source.description.lowercased()
            }
            #expect(sourceReads.count == 1)
            #expect(observed.values.allSatisfy { !$0.sourceMissing })
            // The source's GET is counted among disks; no platform list without `latest`.
            #expect(reads == Reads(images: 4, versions: 8, listings: 1, temporaries: 1), "\(reads)")
        }
    }
}
