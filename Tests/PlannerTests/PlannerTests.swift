import Foundation
import Model
import Planner
import TestSupport
import Testing

let sub = "00000000-0000-0000-0000-000000000000"

/// A desired build like the quick start: platform source, two steps, image and a gallery
/// version in two regions. `extra` is appended to the build's YAML.
func desiredBuild(name: String = "qs", extra: String = "", outputs: String? = nil) throws -> DesiredBuild {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    try dir.write("setup.sh", "echo setup\n")
    let outputsYAML = outputs ?? """
            outputs:
              image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/\(name)}
              gallery:
                resourceGroup: rg
                gallery: g
                imageDefinition: def
                version: 1.0.0
                targetRegions: [eastus, {name: westus2, replicas: 2}]
        """
    let text = """
        builds:
          - name: \(name)
            source: {platformImage: 'Canonical:ubuntu:server:latest'}
            provision:
              - name: motd
                shell: [echo hi > /etc/motd]
              - name: setup
                script: setup.sh
        \(outputsYAML)
        \(extra)
        """
    let r = try loadManifest(text, in: dir)
    let build = try #require(r.manifest?.builds.first, "\(r.errors)")
    let digest = try BuildDigest.compute(for: build, baseDirectory: dir.url, resolvedPlatformVersion: "1.0.0")
    var gallery: DesiredGalleryVersion?
    if let g = build.outputs.gallery {
        gallery = DesiredGalleryVersion(id: try ResourceID(parsing: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def/versions/\(g.version)"),
                                        version: g.version, targetRegions: g.targetRegions, excludeFromLatest: g.excludeFromLatest, endOfLifeDate: g.endOfLifeDate)
    }
    return DesiredBuild(build: build, digest: digest, subscription: sub, location: "eastus", temporaryResourceGroup: "rg",
                        imageID: try build.outputs.image.map { try ResourceID(parsing: $0.id) }, gallery: gallery)
}

extension Plan {
    var pendingIDs: [String] { pending.map(\.id.description) }
    func status(_ id: String) -> ActionStatus? { actions.first { $0.id.description == id }?.status }
    func reason(_ id: String) -> String { actions.first { $0.id.description == id }?.reason ?? "" }
}

/// Observations for a build in a given state.
func converged(_ d: DesiredBuild) -> ObservedBuild {
    ObservedBuild(
        image: ObservedImage(resource: ObservedResource(id: d.imageID!.description), digest: d.digest.value),
        galleryVersion: ObservedGalleryVersion(resource: ObservedResource(id: d.gallery!.id.description), digest: d.digest.value, regions: [
            .init(name: "eastus", replicas: 1, storageAccountType: "Standard_LRS"),
            .init(name: "westus2", replicas: 2, storageAccountType: "Standard_LRS"),
        ]))
}

func disk(_ d: DesiredBuild, _ role: DiskRole, lun: Int? = nil) -> ObservedDisk {
    ObservedDisk(resource: ObservedResource(id: d.diskID(role).description), builderLUN: lun)
}

func journal(_ d: DesiredBuild, done: [String], inFlight: [String: String?] = [:], failed: [String: String] = [:]) -> JournalView {
    JournalView(runID: d.runID, completed: Set(done.map { ActionID(parsing: "\(d.name)/\($0)")! }),
                inFlight: Dictionary(uniqueKeysWithValues: inFlight.map { (ActionID(parsing: "\(d.name)/\($0.key)")!, $0.value) }),
                failed: Dictionary(uniqueKeysWithValues: failed.map { (ActionID(parsing: "\(d.name)/\($0.key)")!, $0.value) }))
}

@Suite struct PlanFromScratch {
    @Test func aFreshBuildPlansTheWholeDAGInDependencyOrder() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: [:])
        #expect(plan.conflicts.isEmpty)
        #expect(plan.pendingIDs == [
            "qs/gallery-definition",
            "qs/create-disk[os]", "qs/attach[os]", "qs/device[os]", "qs/pre-mount", "qs/mount", "qs/post-mount",
            "qs/chroot-mounts", "qs/copy-files", "qs/provision[motd]", "qs/provision[setup]", "qs/pre-unmount",
            "qs/restore-files", "qs/unmount", "qs/detach[os]", "qs/snapshot[os]", "qs/image", "qs/gallery-version",
            "qs/replicate[eastus]", "qs/replicate[westus2]", "qs/delete-snapshot[os]", "qs/delete-disk[os]",
        ])
        // Every dependency comes before its dependent.
        var seen: Set<ActionID> = []
        for a in plan.actions {
            #expect(a.dependsOn.allSatisfy { seen.contains($0) }, "\(a.id)")
            seen.insert(a.id)
        }
        #expect(plan.action(ActionID(parsing: "qs/image")!)?.dependsOn == [ActionID(parsing: "qs/snapshot[os]")!])
        #expect(plan.reason("qs/create-disk[os]") == "disk kiln-qs-\(d.runID)-os missing")
        #expect(plan.reason("qs/replicate[westus2]") == "gallery version 1.0.0 missing in westus2")
        #expect(plan.reason("qs/provision[setup]") == "run setup.sh in the chroot")
    }

    @Test func namesAreDeterministicFromTheDigest() throws {
        let a = try desiredBuild(), b = try desiredBuild()
        #expect(a.runID == b.runID && a.runID.count == 10)
        #expect(a.diskName(.os) == "kiln-qs-\(a.runID)-os")
        #expect(a.snapshotName(.data(lun: 2)) == "kiln-qs-\(a.runID)-lun2-snap")
        #expect(a.tags["kiln:digest"] == a.digest.value && a.tags["kiln:build"] == "qs")
    }

    @Test func thePlanIsAPureFunctionOfItsInputs() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"], journal: journal(d, done: ["pre-mount"]))
        #expect(Planner.plan([d], observed: ["qs": o]) == Planner.plan([d], observed: ["qs": o]))
    }

    @Test func dataDisksAreCreatedAttachedAndSnapshottedBesideTheOSDisk() throws {
        let d = try desiredBuild(extra: "    disk:\n      dataDisks:\n        - {lun: 0, sizeGB: 4}\n        - {lun: 3, sizeGB: 8}\n")
        let plan = Planner.plan([d], observed: [:])
        for role in ["os", "lun0", "lun3"] {
            for kind in ["create-disk", "attach", "device", "detach", "snapshot", "delete-snapshot", "delete-disk"] {
                #expect(plan.status("qs/\(kind)[\(role)]") == .todo, "\(kind)[\(role)]")
            }
        }
        let preMount = try #require(plan.action(ActionID(parsing: "qs/pre-mount")!))
        #expect(preMount.dependsOn.map(\.description) == ["qs/device[os]", "qs/device[lun0]", "qs/device[lun3]"])
        #expect(plan.action(ActionID(parsing: "qs/image")!)?.dependsOn.count == 3)
    }

    @Test func twoBuildsAreIndependentSubgraphs() throws {
        let a = try desiredBuild(name: "web"), b = try desiredBuild(name: "worker")
        let plan = Planner.plan([a, b], observed: [:])
        for action in plan.actions { #expect(action.dependsOn.allSatisfy { $0.build == action.id.build }) }
        #expect(plan.builds.map(\.name) == ["web", "worker"])
        #expect(plan.pending.count == 44)
    }

    @Test func provisionOnlyBuildsHaveNoSnapshotsAndKeepOptionKeepsTemporaries() throws {
        let skip = try desiredBuild(outputs: "    outputs: {skip: true}")
        let plan = Planner.plan([skip], observed: [:])
        #expect(!plan.pendingIDs.contains { $0.contains("snapshot") || $0.contains("image") })
        #expect(plan.action(ActionID(parsing: "qs/delete-disk[os]")!)?.dependsOn.map(\.description) == ["qs/detach[os]"])
        let keep = try desiredBuild(extra: "    temporary: {keep: true}")
        #expect(!Planner.plan([keep], observed: [:]).pendingIDs.contains { $0.contains("delete") })
    }

    @Test func scratchBuildsHaveNothingToResolve() throws {
        let d = try desiredBuild()
        var scratch = d
        scratch.build.source = .scratch(sizeGB: 4)
        #expect(!Planner.plan([scratch], observed: [:]).actions.contains { $0.id.kind == .resolveSource })
        #expect(Planner.plan([d], observed: [:]).actions.first?.id.kind == .resolveSource)
    }
}

@Suite struct PlanConverged {
    @Test func publishedOutputsWithTheDigestMeanNoChanges() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: ["qs": converged(d)])
        #expect(plan.isEmpty, "\(plan.pendingIDs)")
        #expect(PlanRenderer.text(plan) == "No changes. The published images match the manifest.\n")
    }

    /// A new gallery version after the temporary disk and snapshot are gone needs a new
    /// snapshot, so a new disk: every step runs again on it before the snapshot (it once
    /// snapshotted a fresh, unprovisioned disk, racing its creation; the robustness matrix's
    /// secrets run found it).
    @Test func aNewVersionAfterCleanupProvisionsTheNewDiskBeforeItsSnapshot() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.galleryVersion = nil
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == [
            "qs/gallery-definition",
            "qs/create-disk[os]", "qs/attach[os]", "qs/device[os]", "qs/pre-mount", "qs/mount", "qs/post-mount",
            "qs/chroot-mounts", "qs/copy-files", "qs/provision[motd]", "qs/provision[setup]", "qs/pre-unmount",
            "qs/restore-files", "qs/unmount", "qs/detach[os]", "qs/snapshot[os]", "qs/gallery-version",
            "qs/replicate[eastus]", "qs/replicate[westus2]", "qs/delete-snapshot[os]", "qs/delete-disk[os]",
        ])
    }

    @Test func leftoverTemporariesOfAConvergedBuildAreCleanedUp() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.disks = [.os: disk(d, .os)]
        o.snapshots = [.os: ObservedResource(id: d.snapshotID(.os).description)]
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/delete-snapshot[os]", "qs/delete-disk[os]"])
        #expect(plan.reason("qs/delete-disk[os]").contains("no longer needed"))
    }

    @Test func replicationInProgressIsWaitedFor() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.galleryVersion?.regions[1] = .init(name: "westus2", replicas: 2, storageAccountType: "Standard_LRS", state: "Replicating", progress: 45)
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/replicate[westus2]"])
        #expect(plan.status("qs/replicate[westus2]") == .inFlight)
        #expect(plan.reason("qs/replicate[westus2]") == "replicating to westus2 (45%)")
    }
}

@Suite struct PlanResume {
    @Test func aKillDuringProvisioningRerunsOnlyTheUnfinishedStep() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"], rootMounted: true, chrootMountsPresent: true,
                              journal: journal(d, done: ["pre-mount", "post-mount", "copy-files", "provision[motd]"], inFlight: ["provision[setup]": nil]))
        let plan = Planner.plan([d], observed: ["qs": o])
        // The gallery definition is checked again by every apply until the version is published.
        #expect(Array(plan.pendingIDs.prefix(2)) == ["qs/gallery-definition", "qs/provision[setup]"])
        #expect(plan.reason("qs/provision[setup]") == "interrupted in the last run: runs again")
        for done in ["create-disk[os]", "attach[os]", "device[os]", "pre-mount", "mount", "post-mount", "chroot-mounts", "copy-files", "provision[motd]"] {
            #expect(plan.status("qs/\(done)") == .done, "\(done)")
        }
    }

    @Test func aRebootRemountsButDoesNotRepeatFinishedSteps() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"],
                              journal: journal(d, done: ["pre-mount", "post-mount", "copy-files", "provision[motd]"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(Array(plan.pendingIDs.prefix(5)) == ["qs/gallery-definition", "qs/mount", "qs/post-mount", "qs/chroot-mounts", "qs/provision[setup]"])
        #expect(plan.status("qs/pre-mount") == .done)
        #expect(plan.status("qs/copy-files") == .done)
        #expect(plan.status("qs/attach[os]") == .done)
        #expect(plan.reason("qs/mount") == "not mounted (the VM restarted?): mount again")
    }

    @Test func stepsDoneOnADiskThatVanishedAreStale() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(journal: journal(d, done: ["pre-mount", "post-mount", "copy-files", "provision[motd]"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.status("qs/create-disk[os]") == .todo)
        #expect(plan.status("qs/provision[motd]") == .stale)
        #expect(plan.reason("qs/provision[motd]").contains("no longer exists"))
    }

    @Test func anAzureOperationInFlightIsRejoinedNotReissued() throws {
        let d = try desiredBuild()
        let url = "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/eastus/operations/abc"
        let o = ObservedBuild(journal: journal(d, done: [], inFlight: ["create-disk[os]": url]))
        let plan = Planner.plan([d], observed: ["qs": o])
        let create = try #require(plan.action(ActionID(parsing: "qs/create-disk[os]")!))
        #expect(create.status == .inFlight)
        #expect(create.operation == url)
        #expect(PlanRenderer.text(plan).contains("(in flight since the last run: waits for it)"))
    }

    @Test func afterTheSnapshotsOnlyPublishingAndCleanupRemain() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(disks: [.os: disk(d, .os)], snapshots: [.os: ObservedResource(id: d.snapshotID(.os).description)])
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/gallery-definition", "qs/image", "qs/gallery-version", "qs/replicate[eastus]", "qs/replicate[westus2]",
                                    "qs/delete-snapshot[os]", "qs/delete-disk[os]"])
    }

    @Test func aFailedStepIsRetriedWithItsMessage() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"], rootMounted: true, chrootMountsPresent: true,
                              journal: journal(d, done: ["pre-mount", "post-mount", "copy-files"], failed: ["provision[motd]": "exit 2"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(Array(plan.pendingIDs.prefix(2)) == ["qs/gallery-definition", "qs/provision[motd]"])
        #expect(plan.reason("qs/provision[motd]") == "failed in the last run (exit 2): runs again")
    }

    @Test func leftoversOfAnOlderRunAreReleasedBeforeAttaching() throws {
        let d = try desiredBuild()
        let old = Leftover(id: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/kiln-qs-0123456789-os",
                           kind: .disk, runID: "0123456789", attached: true, mountedAt: "/mnt/kiln/qs")
        let plan = Planner.plan([d], observed: ["qs": ObservedBuild(leftovers: [old])])
        #expect(plan.status("qs/release-leftover[kiln-qs-0123456789-os]") == .todo)
        #expect(plan.reason("qs/release-leftover[kiln-qs-0123456789-os]") == "left over from run 0123456789 of this build: unmount /mnt/kiln/qs, then detach, then delete")
        #expect(plan.action(ActionID(parsing: "qs/attach[os]")!)?.dependsOn.map(\.description).contains("qs/release-leftover[kiln-qs-0123456789-os]") == true)
    }
}

@Suite struct PlanChanges {
    @Test func anExistingGalleryVersionWithAnotherDigestIsAConflictNamingTheFix() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.galleryVersion?.digest = "sha256:" + String(repeating: "a", count: 64)
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.conflicts.count == 1)
        #expect(plan.conflicts[0].fix.hasPrefix("bump outputs.gallery.version (e.g. 1.0.1)"))
        #expect(plan.pending.allSatisfy { $0.status == .blocked })
        #expect(!plan.isEmpty)
        #expect(PlanRenderer.summary(plan).contains("blocked by 1 conflict"))
    }

    @Test func aChangedDigestReplacesTheImageAndSaysWhatChanged() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let d = try desiredBuild()
        var previous = d.digest
        previous.value = "sha256:" + String(repeating: "b", count: 64)
        previous.components[4].digest = "0000"
        var o = ObservedBuild(image: ObservedImage(resource: ObservedResource(id: d.imageID!.description), digest: previous.value))
        o.journal.published = previous
        let plan = Planner.plan([d], observed: ["qs": o.withoutGallery(d)])
        let image = try #require(plan.action(ActionID(parsing: "qs/image")!))
        #expect(image.change == .replace)
        #expect(image.reason == "image qs digest changed: setup.sh edited")
        #expect(plan.status("qs/create-disk[os]") == .todo)
    }

    @Test func regionDriftOfTheSameVersionIsRepairedInPlace() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.galleryVersion?.regions = [.init(name: "eastus", replicas: 1, storageAccountType: "Standard_LRS"),
                                     .init(name: "westus2", replicas: 1, storageAccountType: "Standard_LRS"),
                                     .init(name: "northeurope", replicas: 1, storageAccountType: "Standard_LRS")]
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/update-gallery-version"])
        #expect(plan.reason("qs/update-gallery-version") == "published version drifted: region northeurope not in the manifest; westus2 replicas 1 → 2")
        var missing = converged(d)
        missing.galleryVersion?.regions.removeLast()
        let repair = Planner.plan([d], observed: ["qs": missing])
        #expect(repair.pendingIDs == ["qs/update-gallery-version", "qs/replicate[westus2]"])
    }

    /// The image deleted behind Kiln's back while the version stays: the version does not
    /// hold the provisioned disk the new snapshot must come from, so the disk is made and
    /// provisioned again (the journal's steps are stale) before the snapshot; found with the
    /// end-to-end test `DriftAndFailure`, where the image was rebuilt from the bare source.
    @Test func aDeletedImageBesideItsVersionIsRebuiltFromAFreshlyProvisionedDisk() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.image = nil
        o.journal = journal(d, done: ["pre-mount", "post-mount", "copy-files", "provision[motd]", "provision[setup]", "pre-unmount", "restore-files"])
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == [
            "qs/create-disk[os]", "qs/attach[os]", "qs/device[os]", "qs/pre-mount", "qs/mount", "qs/post-mount",
            "qs/chroot-mounts", "qs/copy-files", "qs/provision[motd]", "qs/provision[setup]", "qs/pre-unmount",
            "qs/restore-files", "qs/unmount", "qs/detach[os]", "qs/snapshot[os]", "qs/image",
            "qs/delete-snapshot[os]", "qs/delete-disk[os]",
        ])
        #expect(plan.status("qs/provision[motd]") == .stale)
        // With the snapshot still there (temporary.keep), only the image is made.
        o.snapshots = [.os: ObservedResource(id: d.snapshotID(.os).description)]
        #expect(Planner.plan([d], observed: ["qs": o]).pendingIDs == ["qs/image", "qs/delete-snapshot[os]"])
        // The same for a deleted version beside its image.
        var version = converged(d)
        version.galleryVersion = nil
        version.journal = o.journal
        let rebuild = Planner.plan([d], observed: ["qs": version])
        #expect(rebuild.status("qs/provision[setup]") == .stale)
        #expect(rebuild.status("qs/snapshot[os]") == .todo)
        #expect(rebuild.status("qs/image") == .done)
        #expect(rebuild.status("qs/gallery-version") == .todo)
        #expect(rebuild.status("qs/gallery-definition") == .todo)
    }

    @Test func aMissingSourceIsAConflictOnlyWhileADiskMustBeMadeFromIt() throws {
        var d = try desiredBuild()
        d.build.source = .disk("/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/golden")
        d.sourceID = try ResourceID(parsing: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/golden")
        let plan = Planner.plan([d], observed: ["qs": ObservedBuild(sourceMissing: true)])
        #expect(plan.conflicts.map(\.message) == ["the source disk golden does not exist"])
        var published = converged(d)
        published.sourceMissing = true
        #expect(Planner.plan([d], observed: ["qs": published]).isEmpty)
    }

    @Test func anImageKilnDidNotMakeIsNeverReplaced() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.image?.digest = nil
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.conflicts.first?.message.contains("was not made by Kiln") == true)
    }
}

/// The gallery and image definition: ensured from the start of the apply, beside the disk
/// work, and only while the gallery version is still to publish.
@Suite struct GalleryDefinitionPlanning {
    @Test func itDependsOnlyOnTheSourceAndTheVersionWaitsForIt() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: [:])
        let definition = try #require(plan.action(ActionID(parsing: "qs/gallery-definition")!))
        #expect(definition.dependsOn.map(\.description) == ["qs/resolve-source"])
        #expect(definition.status == .todo && definition.change == .create)
        #expect(definition.resource == "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def")
        #expect(plan.action(ActionID(parsing: "qs/gallery-version")!)?.dependsOn.map(\.description) == ["qs/snapshot[os]", "qs/gallery-definition"])
        // Nothing of the disk chain is on its way, and nothing of it waits for it.
        let chain = Set(plan.actions.map(\.id).filter { ![.galleryDefinition, .resolveSource, .galleryVersion, .replicate, .deleteSnapshot, .deleteDisk].contains($0.kind) })
        #expect(!chain.isEmpty)
        for a in plan.actions where chain.contains(a.id) {
            #expect(!a.dependsOn.contains(definition.id), "\(a.id)")
        }
        // Dependents other than the version are only through it (replication, cleanup).
        let direct = plan.actions.filter { $0.dependsOn.contains(definition.id) }.map(\.id.description)
        #expect(direct == ["qs/gallery-version"])
    }

    @Test func aScratchBuildHasNoDependencyAtAll() throws {
        var d = try desiredBuild()
        d.build.source = .scratch(sizeGB: 4)
        let plan = Planner.plan([d], observed: [:])
        #expect(plan.action(ActionID(parsing: "qs/gallery-definition")!)?.dependsOn == [])
    }

    @Test func absentWhenConvergedOrWhileOnlyReplicationOrRepairsRemain() throws {
        let d = try desiredBuild()
        #expect(Planner.plan([d], observed: ["qs": converged(d)]).action(ActionID(parsing: "qs/gallery-definition")!) == nil)
        var replicating = converged(d)
        replicating.galleryVersion?.regions[1].state = "Replicating"
        let waiting = Planner.plan([d], observed: ["qs": replicating])
        #expect(waiting.pendingIDs == ["qs/replicate[westus2]"])
        #expect(waiting.action(ActionID(parsing: "qs/gallery-definition")!) == nil)
        #expect(waiting.action(ActionID(parsing: "qs/gallery-version")!)?.dependsOn.map(\.description) == ["qs/snapshot[os]"])
        var drifted = converged(d)
        drifted.galleryVersion?.excludeFromLatest = true
        #expect(Planner.plan([d], observed: ["qs": drifted]).pendingIDs == ["qs/update-gallery-version"])
    }

    @Test func absentWithoutAGalleryOutput() throws {
        let imageOnly = try desiredBuild(outputs: "    outputs:\n      image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/qs}")
        #expect(imageOnly.gallery == nil)
        #expect(!Planner.plan([imageOnly], observed: [:]).actions.contains { $0.id.kind == .galleryDefinition })
        let skip = try desiredBuild(outputs: "    outputs: {skip: true}")
        #expect(!Planner.plan([skip], observed: [:]).actions.contains { $0.id.kind == .galleryDefinition })
    }

    @Test func plannedAgainForAFailedOrConflictingVersion() throws {
        let d = try desiredBuild()
        var failed = converged(d)
        failed.galleryVersion?.resource.provisioningState = "Failed"
        #expect(Planner.plan([d], observed: ["qs": failed]).status("qs/gallery-definition") == .todo)
        var other = converged(d)
        other.galleryVersion?.digest = "sha256:" + String(repeating: "a", count: 64)
        #expect(Planner.plan([d], observed: ["qs": other]).status("qs/gallery-definition") == .blocked)
    }

    /// Killed while it waited for Azure: the next apply re-joins the journaled operation;
    /// done in an earlier run of the same apply, it still runs (two reads), since nothing
    /// observed proves the definition still exists.
    @Test func anInterruptedOneIsRejoinedAndADoneOneChecksAgain() throws {
        let d = try desiredBuild()
        let url = "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/eastus/operations/gal"
        let interrupted = Planner.plan([d], observed: ["qs": ObservedBuild(journal: journal(d, done: [], inFlight: ["gallery-definition": url]))])
        let action = try #require(interrupted.action(ActionID(parsing: "qs/gallery-definition")!))
        #expect(action.status == .inFlight && action.operation == url)
        let done = Planner.plan([d], observed: ["qs": ObservedBuild(journal: journal(d, done: ["gallery-definition"]))])
        #expect(done.status("qs/gallery-definition") == .todo)
    }
}

extension ObservedBuild {
    func withoutGallery(_ d: DesiredBuild) -> ObservedBuild { var o = self; o.galleryVersion = nil; return o }
}

@Suite struct Rendering {
    @Test func textShowsSymbolsReasonsAndASummary() throws {
        let d = try desiredBuild()
        let text = PlanRenderer.text(Planner.plan([d], observed: [:]))
        #expect(text.hasPrefix("Kiln will perform the following actions:\n\n  # qs (digest \(d.digest.short), run \(d.runID))\n"))
        #expect(text.contains("  +   create-disk[os]"))
        #expect(text.contains("  *   provision[setup]"))
        #expect(text.contains("  <=  replicate[westus2]"))
        #expect(text.contains("  -   delete-disk[os]"))
        #expect(text.contains("  +   gallery-definition"))
        #expect(text.contains("        gallery g and image definition def: created when missing, checked when present\n"))
        #expect(text.hasSuffix("Plan: 5 to add, 0 to change, 2 to destroy, 12 to run, 3 to wait for.\n"))
    }

    @Test func jsonCarriesEveryActionWithItsStatus() throws {
        let d = try desiredBuild()
        let json = try PlanRenderer.json(Planner.plan([d], observed: ["qs": converged(d)]))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["empty"] as? Bool == true)
        let plan = try #require(object["plan"] as? [String: Any])
        let actions = try #require(plan["actions"] as? [[String: Any]])
        #expect(actions.count == 22)
        #expect(actions.allSatisfy { $0["status"] as? String == "done" })
        let decoded = try JSONDecoder().decode(PlanEnvelope.self, from: Data(json.utf8))
        #expect(decoded.plan == Planner.plan([d], observed: ["qs": converged(d)]))
    }

    @Test func dotHasAClusterPerBuildAndAnEdgePerDependency() throws {
        let a = try desiredBuild(name: "web"), b = try desiredBuild(name: "worker")
        let plan = Planner.plan([a, b], observed: [:])
        let dot = PlanRenderer.dot(plan)
        #expect(dot.hasPrefix("digraph kiln {"))
        #expect(dot.contains("subgraph \"cluster_1\" {\n    label = \"worker\";"))
        #expect(dot.contains("\"web/create-disk[os]\" -> \"web/attach[os]\";"))
        let edges = dot.split(separator: "\n").filter { $0.contains(" -> ") }.count
        #expect(edges == plan.actions.reduce(0) { $0 + $1.dependsOn.count })
    }
}

struct PlanEnvelope: Decodable { var plan: Plan }

@Suite struct DriftDetection {
    @Test func noDriftWhenConverged() throws {
        let d = try desiredBuild()
        #expect(DriftDetector.drift([d], observed: ["qs": converged(d)]).isEmpty)
    }

    @Test func eachFieldIsReported() throws {
        let d = try desiredBuild(outputs: """
                outputs:
                  image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/qs}
                  gallery:
                    resourceGroup: rg
                    gallery: g
                    imageDefinition: def
                    version: 1.0.0
                    targetRegions: [eastus, {name: westus2, replicas: 2}]
                    endOfLifeDate: 2030-01-01
            """)
        var o = converged(d)
        o.image = nil
        o.galleryVersion?.regions = [.init(name: "eastus", replicas: 3, storageAccountType: "Premium_LRS"),
                                     .init(name: "centralus", replicas: 1, storageAccountType: "Standard_LRS")]
        o.galleryVersion?.excludeFromLatest = true
        let items = DriftDetector.drift([d], observed: ["qs": o])
        #expect(items.map(\.field) == [
            "image", "gallery.targetRegions[eastus].replicas", "gallery.targetRegions[eastus].storageAccountType",
            "gallery.targetRegions[westus2]", "gallery.targetRegions[centralus]", "gallery.excludeFromLatest", "gallery.endOfLifeDate",
        ])
        #expect(items.filter(\.repairableInPlace).count == 6)
        var deleted = converged(d)
        deleted.galleryVersion = nil
        #expect(DriftDetector.drift([d], observed: ["qs": deleted]).map(\.description) == ["qs: gallery.version: expected 1.0.0, found deleted or never published"])
    }
}
