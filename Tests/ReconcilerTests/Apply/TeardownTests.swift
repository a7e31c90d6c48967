import Foundation
import Logging
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

private let sub = "00000000-0000-0000-0000-000000000000"

/// A desired build with an image and a gallery version (copy-files as defaulted).
private func teardownBuild(_ name: String = "td") throws -> DesiredBuild {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    let text = """
        builds:
          - name: \(name)
            source: {platformImage: 'Canonical:ubuntu:server:1.0.0'}
            provision:
              - name: motd
                shell: [echo hi > /etc/motd]
            outputs:
              image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/\(name)}
              gallery: {resourceGroup: rg, gallery: g, imageDefinition: def, version: 1.0.0, targetRegions: [eastus]}
        """
    let r = try loadManifest(text, in: dir)
    let build = try #require(r.manifest?.builds.first, "\(r.errors)")
    let digest = try BuildDigest.compute(for: build, baseDirectory: dir.url, resolvedPlatformVersion: "1.0.0")
    let g = try #require(build.outputs.gallery)
    let gallery = DesiredGalleryVersion(
        definitionID: try ResourceID(
            parsing: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def"),
        version: g.version, targetRegions: g.targetRegions, excludeFromLatest: false, endOfLifeDate: nil)
    return DesiredBuild(
        build: build, digest: digest, subscription: sub, location: "eastus", temporaryResourceGroup: "rg",
        imageID: try build.outputs.image.map { try ResourceID(parsing: $0.id) }, gallery: gallery)
}

private let leftoverDisk =
    "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/kiln-td-0123456789-os"

/// A build killed while provisioning: its disk attached and mounted, a snapshot of an
/// earlier attempt, a leftover of another run attached, and both outputs published.
private func killedMidway(_ d: DesiredBuild, outputsTagged: Bool = true) -> ObservedBuild {
    ObservedBuild(
        disks: [.os: ObservedDisk(resource: ObservedResource(id: d.diskID(.os).description), builderLUN: 0)],
        snapshots: [.os: ObservedResource(id: d.snapshotID(.os).description)],
        devices: [.os: "/dev/loop7"], rootMounted: true, chrootMountsPresent: true,
        image: ObservedImage(
            resource: ObservedResource(id: d.imageID!.description), digest: outputsTagged ? "sha256:old" : nil),
        galleryVersion: ObservedGalleryVersion(
            resource: ObservedResource(id: d.gallery!.id.description), digest: outputsTagged ? "sha256:old" : nil,
            regions: []),
        leftovers: [Leftover(id: leftoverDisk, kind: .disk, runID: "0123456789", attached: true)])
}

@Suite struct DestroyPlanning {
    @Test func temporaryResourcesAreUnmountedDetachedAndDeletedButOutputsKept() throws {
        let d = try teardownBuild()
        let destroy = DestroyPlanner.plan([d], observed: [d.name: killedMidway(d)])
        let ids = destroy.plan.actions.map(\.id.description)
        #expect(
            ids == [
                "td/unmount", "td/detach[os]", "td/delete-disk[os]", "td/delete-snapshot[os]",
                "td/release-leftover[kiln-td-0123456789-os]"
            ])
        #expect(destroy.plan.actions.allSatisfy { $0.status == .todo })
        #expect(destroy.plan.action(ActionID("td", .detach(.os)))?.dependsOn == [ActionID("td", .unmount)])
        #expect(destroy.plan.action(ActionID("td", .deleteDisk(.os)))?.dependsOn == [ActionID("td", .detach(.os))])
        // An attached leftover is detached by its executor, which refuses while anything is mounted.
        #expect(
            destroy.plan.action(ActionID("td", .releaseLeftover(disk: "kiln-td-0123456789-os")))?.dependsOn == [
                ActionID("td", .unmount)
            ])
        #expect(destroy.kept.count == 2)
        #expect(destroy.kept.allSatisfy { $0.contains("--outputs removes it") })
        #expect(DestroyPlanner.text(destroy).contains("Plan: 0 to add, 0 to change, 3 to destroy, 2 to run"))
    }

    @Test func withOutputsOnlyKilnTaggedOutputsAreDeleted() throws {
        let d = try teardownBuild()
        let tagged = DestroyPlanner.plan([d], observed: [d.name: killedMidway(d)], options: .init(outputs: true))
        #expect(tagged.plan.action(ActionID("td", .deleteImage))?.resource == d.imageID?.description)
        #expect(tagged.plan.action(ActionID("td", .deleteGalleryVersion))?.resource == d.gallery?.id.description)
        #expect(tagged.kept.isEmpty)

        let foreign = DestroyPlanner.plan(
            [d], observed: [d.name: killedMidway(d, outputsTagged: false)], options: .init(outputs: true))
        #expect(foreign.plan.action(ActionID("td", .deleteImage)) == nil)
        #expect(foreign.plan.action(ActionID("td", .deleteGalleryVersion)) == nil)
        #expect(foreign.kept.count == 2)
        #expect(foreign.kept.allSatisfy { $0.contains("no kiln:digest tag") })
    }

    @Test func aDiskAttachedToAnotherVMIsKeptNotPlanned() throws {
        let d = try teardownBuild()
        let observed = ObservedBuild(disks: [
            .os: ObservedDisk(
                resource: ObservedResource(id: d.diskID(.os).description),
                attachedElsewhere: "/subscriptions/x/vm/other")
        ])
        let destroy = DestroyPlanner.plan([d], observed: [d.name: observed])
        #expect(destroy.isEmpty)
        #expect(destroy.kept.first?.contains("attached to another VM") == true)
    }

    @Test func nothingFoundIsAnEmptyPlanThatSaysSo() throws {
        let d = try teardownBuild()
        let destroy = DestroyPlanner.plan([d], observed: [:], options: .init(outputs: true))
        #expect(destroy.isEmpty)
        #expect(DestroyPlanner.text(destroy).hasPrefix("Nothing to destroy"))
    }

    @Test func aCleanupPutsTheCopiedFilesBackBeforeUnmounting() throws {
        let d = try teardownBuild()
        let cleanup = DestroyPlanner.plan(
            [d], observed: [d.name: killedMidway(d)], options: .init(restoreFiles: true, purpose: "cleanup"))
        #expect(cleanup.plan.actions.first?.id == ActionID("td", .restoreFiles))
        #expect(cleanup.plan.action(ActionID("td", .unmount))?.dependsOn == [ActionID("td", .restoreFiles)])
        // Not mounted: nothing to restore into, nothing to unmount.
        var unmounted = killedMidway(d)
        unmounted.rootMounted = false
        let plain = DestroyPlanner.plan([d], observed: [d.name: unmounted], options: .init(restoreFiles: true))
        #expect(plain.plan.action(ActionID("td", .restoreFiles)) == nil)
        #expect(plain.plan.action(ActionID("td", .unmount)) == nil)
        #expect(plain.plan.action(ActionID("td", .detach(.os)))?.dependsOn == [])
    }

    @Test func aMountedLeftoverIsUnmountedBeforeItIsReleased() throws {
        let d = try teardownBuild()
        let observed = ObservedBuild(leftovers: [
            Leftover(id: leftoverDisk, kind: .disk, runID: "0123456789", attached: true, mountedAt: d.mountPath)
        ])
        let destroy = DestroyPlanner.plan([d], observed: [d.name: observed])
        #expect(destroy.plan.actions.map(\.id.kind) == [.unmount, .releaseLeftover])
        #expect(destroy.plan.actions[1].reason.contains("unmounted at \(d.mountPath) first, then detach, then delete"))
    }
}

@Suite struct TeardownRuns {
    func destroyPlan(_ d: DesiredBuild) -> DestroyPlan {
        DestroyPlanner.plan([d], observed: [d.name: killedMidway(d)])
    }

    @Test func aTeardownRunsInDependencyOrderEndsWithItsOwnSummaryAndClearsTheRunState() async throws {
        let d = try teardownBuild()
        let store = InMemoryJournalStore()
        try await store.replace(
            BuildJournal(
                build: d.name, header: JournalHeader(run: d.runID, digest: d.digest.value, published: d.digest),
                entries: [JournalEntry(actionID: "td/provision[motd]", phase: .done(result: [:]), resourceID: nil)]))
        let executor = FakeExecutor()
        let events = CollectingEventSink()
        let summary = await TeardownRun(kind: .destroy, executor: executor, journals: store).run(
            destroyPlan(d), events: events, keepPublished: true)

        #expect(summary.outcome == .complete)
        #expect(summary.removed.count == 5)
        #expect(summary.message == "Destroy complete: 5 removed.")
        let log = executor.recorder.log
        #expect(
            try #require(log.firstIndex(of: "end td/unmount")) < #require(log.firstIndex(of: "start td/detach[os]")))
        #expect(
            try #require(log.firstIndex(of: "end td/detach[os]")) < #require(
                log.firstIndex(of: "start td/delete-disk[os]")))
        #expect(!events.events.contains { if case .summary = $0 { true } else { false } })
        guard case .teardown(let last) = events.events.last else {
            Issue.record("the teardown summary is not last")
            return
        }
        #expect(last == summary)
        let journal = try await store.load(build: d.name)
        #expect(journal.entries.isEmpty)
        #expect(journal.header == JournalHeader(published: d.digest))
    }

    @Test func aFailedTeardownKeepsTheJournalAndSaysHowToFinish() async throws {
        let d = try teardownBuild()
        let store = InMemoryJournalStore()
        try await store.replace(BuildJournal(build: d.name, header: JournalHeader(run: d.runID)))
        let executor = FakeExecutor(["td/detach[os]": { _, _ in throw Boom() }])
        let events = CollectingEventSink()
        let summary = await TeardownRun(kind: .cleanup, executor: executor, journals: store).run(
            destroyPlan(d), events: events, keepPublished: true)

        #expect(summary.outcome == .failed)
        #expect(summary.failures.map(\.action) == [ActionID("td", .detach(.os))])
        #expect(!executor.recorder.started.contains("td/delete-disk[os]"))
        #expect(summary.message.hasPrefix("Cleanup failed: 1 action failed"))
        #expect(try await store.load(build: d.name).header.run == d.runID)
    }

    @Test func withoutKeepPublishedTheJournalForgetsThePublishedDigest() async throws {
        let d = try teardownBuild()
        let store = InMemoryJournalStore()
        try await store.replace(BuildJournal(build: d.name, header: JournalHeader(run: d.runID, published: d.digest)))
        let empty = DestroyPlanner.plan([d], observed: [:], options: .init(outputs: true))
        let summary = await TeardownRun(kind: .destroy, executor: FakeExecutor(), journals: store).run(
            empty, events: CollectingEventSink(), keepPublished: false)
        #expect(summary.message == "Destroy complete: nothing to remove.")
        #expect(try await store.load(build: d.name).header == JournalHeader())
    }
}

@Suite struct OnErrorKeepReports {
    @Test func theLeftoverReportListsEachKeptResourceWithItsStateAndTheRemovingCommand() throws {
        let d = try teardownBuild()
        let report = LeftoverReport.make(
            builds: [d], observed: [d.name: killedMidway(d)], removeCommand: "kiln destroy m.yaml --emulator")
        #expect(report.items.map(\.kind) == ["disk", "snapshot", "disk"])
        let os = report.items[0]
        #expect(
            os.id == d.diskID(.os).description && os.attached && os.lun == 0 && os.device == "/dev/loop7"
                && os.mountedAt == d.mountPath)
        let text = report.lines.joined(separator: "\n")
        #expect(
            text.contains(
                "\(d.diskName(.os)) (run \(d.runID), attached at LUN 0 as /dev/loop7, mounted at \(d.mountPath))"))
        #expect(text.contains(d.diskID(.os).description))
        #expect(text.contains("kiln-td-0123456789-os (run 0123456789, attached)"))
        #expect(
            report.lines.last
                == "Fix the cause and run kiln apply again to resume, or remove them with: kiln destroy m.yaml --emulator"
        )
    }

    @Test func theReportIsAJSONEventWithItsItems() throws {
        let d = try teardownBuild()
        let output = CapturedOutput()
        let renderer = JSONLinesRenderer(output: output)
        renderer.receive(
            .leftovers(
                LeftoverReport.make(
                    builds: [d], observed: [d.name: killedMidway(d)], removeCommand: "kiln destroy m.yaml")))
        let last = try #require(output.lines.last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "leftovers")
        let leftovers = try #require(object["leftovers"] as? [String: Any])
        #expect(leftovers["remove_command"] as? String == "kiln destroy m.yaml")
        #expect((leftovers["items"] as? [[String: Any]])?.first?["mounted_at"] as? String == d.mountPath)
    }
}

/// A cleanup with the real VM executors on in-memory mounts and files: the copied file
/// goes back, then everything under the root is unmounted.
@Suite struct CleanupOnInMemoryProviders {
    @Test func theCleanupRestoresCopiedFilesAndUnmountsEverything() async throws {
        let f = try await VMExecutorFixture()
        try await f.mountRoot()
        try await f.mounts.mount(
            MountRequest(source: "proc", target: f.root + "/proc", kind: .filesystem(type: "proc")))
        try await f.chroot.copyHostFile("/etc/resolv.conf", to: "/etc/resolv.conf", root: f.root)
        let observed = ObservedBuild(rootMounted: true)
        let cleanup = DestroyPlanner.plan(
            [f.d], observed: [f.d.name: observed], options: .init(restoreFiles: true, purpose: "cleanup"))
        #expect(cleanup.plan.actions.map(\.id.kind) == [.restoreFiles, .unmount])
        let run = TeardownRun(
            kind: .cleanup, executor: Executors(f.env, manifestDirectory: f.manifestDirectory),
            journals: f.env.local.journal)
        let events = CollectingEventSink()
        let summary = await run.run(cleanup, events: events, keepPublished: true)
        #expect(summary.outcome == .complete, "\(summary.failures)")
        #expect(try await f.mounts.mountTable().entries(under: f.root).isEmpty)
        #expect(
            summary.removed == [
                "vmx: restored the image's own copied files", "vmx: unmounted everything under \(f.d.mountPath)"
            ])
    }
}
