import Foundation
import Model
import Planner
import TestSupport
import Testing

let sub = "00000000-0000-0000-0000-000000000000"

/// The outputs of `desiredBuild` unless a test gives its own: an image, and a gallery
/// version in two regions; `galleryExtra` lines are added to the gallery's keys.
func defaultOutputs(name: String = "qs", galleryExtra: String = "") -> String {
    """
        outputs:
          image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/\(name)}
          gallery:
            resourceGroup: rg
            gallery: g
            imageDefinition: def
            version: 1.0.0
            targetRegions: [eastus, {name: westus2, replicas: 2}]
    """ + (galleryExtra.isEmpty ? "" : "\n        " + galleryExtra)
}

/// A desired build like the quick start: platform source, two steps, image and a gallery
/// version in two regions. `extra` is appended to the build's YAML.
func desiredBuild(name: String = "qs", extra: String = "", outputs: String? = nil) throws -> DesiredBuild {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    try dir.write("setup.sh", "echo setup\n")
    let outputsYAML = outputs ?? defaultOutputs(name: name)
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
        gallery = DesiredGalleryVersion(
            definitionID: try ResourceID(
                parsing: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def"),
            version: g.version, targetRegions: g.targetRegions, excludeFromLatest: g.excludeFromLatest,
            endOfLifeDate: g.endOfLifeDate)
    }
    return DesiredBuild(
        build: build, digest: digest, subscription: sub, location: "eastus", temporaryResourceGroup: "rg",
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
        galleryVersion: ObservedGalleryVersion(
            resource: ObservedResource(id: d.gallery!.id.description), digest: d.digest.value,
            regions: [
                .init(name: "eastus", replicas: 1, storageAccountType: "Standard_LRS"),
                .init(name: "westus2", replicas: 2, storageAccountType: "Standard_LRS")
            ]))
}

func disk(_ d: DesiredBuild, _ role: DiskRole, lun: Int? = nil) -> ObservedDisk {
    ObservedDisk(resource: ObservedResource(id: d.diskID(role).description), builderLUN: lun)
}

func journal(_ d: DesiredBuild, done: [String], inFlight: [String: String?] = [:], failed: [String: String] = [:])
    -> JournalView
{
    JournalView(
        runID: d.runID, completed: Set(done.map { ActionID(parsing: "\(d.name)/\($0)")! }),
        inFlight: Dictionary(
            uniqueKeysWithValues: inFlight.map { (ActionID(parsing: "\(d.name)/\($0.key)")!, $0.value) }),
        failed: Dictionary(uniqueKeysWithValues: failed.map { (ActionID(parsing: "\(d.name)/\($0.key)")!, $0.value) }))
}

@Suite struct PlanFromScratch {
    @Test func aFreshBuildPlansTheWholeDAGInDependencyOrder() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: [:])
        #expect(plan.conflicts.isEmpty)
        #expect(
            plan.pendingIDs == [
                "qs/gallery-definition",
                "qs/create-disk[os]", "qs/attach[os]", "qs/device[os]", "qs/pre-mount", "qs/mount", "qs/post-mount",
                "qs/chroot-mounts", "qs/copy-files", "qs/provision[motd]", "qs/provision[setup]", "qs/pre-unmount",
                "qs/restore-files", "qs/unmount", "qs/detach[os]", "qs/image", "qs/gallery-version",
                "qs/replicate[eastus]", "qs/replicate[westus2]", "qs/delete-disk[os]"
            ])
        // Every dependency comes before its dependent.
        var seen: Set<ActionID> = []
        for a in plan.actions {
            #expect(a.dependsOn.allSatisfy { seen.contains($0) }, "\(a.id)")
            seen.insert(a.id)
        }
        // The outputs are made from the disk once unmounted, beside its detach; the disk goes
        // once it is detached and every output is made.
        #expect(plan.action(ActionID(parsing: "qs/image")!)?.dependsOn == [ActionID(parsing: "qs/unmount")!])
        #expect(
            plan.action(ActionID(parsing: "qs/gallery-version")!)?.dependsOn.map(\.description) == [
                "qs/unmount", "qs/gallery-definition"
            ])
        #expect(
            plan.action(ActionID(parsing: "qs/delete-disk[os]")!)?.dependsOn.map(\.description) == [
                "qs/detach[os]", "qs/image", "qs/gallery-version"
            ])
        #expect(plan.action(ActionID(parsing: "qs/create-disk[os]")!)?.absentWhenPlanned == true)
        #expect(plan.action(ActionID(parsing: "qs/image")!)?.absentWhenPlanned == true)
        #expect(plan.reason("qs/create-disk[os]") == "disk kiln-qs-\(d.runID)-os missing")
        #expect(plan.reason("qs/replicate[westus2]") == "gallery version 1.0.0 missing in westus2")
        #expect(plan.reason("qs/provision[setup]") == "run setup.sh in the chroot")
    }

    @Test func namesAreDeterministicFromTheDigest() throws {
        let a = try desiredBuild()
        let b = try desiredBuild()
        #expect(a.runID == b.runID && a.runID.count == 10)
        #expect(a.diskName(.os) == "kiln-qs-\(a.runID)-os")
        #expect(a.snapshotName(.data(lun: 2)) == "kiln-qs-\(a.runID)-lun2-snap")
        #expect(a.tags["kiln:digest"] == a.digest.value && a.tags["kiln:build"] == "qs")
    }

    @Test func thePlanIsAPureFunctionOfItsInputs() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(
            disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"], journal: journal(d, done: ["pre-mount"]))
        #expect(Planner.plan([d], observed: ["qs": o]) == Planner.plan([d], observed: ["qs": o]))
    }

    @Test func dataDisksAreCreatedAttachedAndCapturedBesideTheOSDisk() throws {
        let d = try desiredBuild(
            extra: "    disk:\n      dataDisks:\n        - {lun: 0, sizeGB: 4}\n        - {lun: 3, sizeGB: 8}\n")
        let plan = Planner.plan([d], observed: [:])
        for role in ["os", "lun0", "lun3"] {
            for kind in ["create-disk", "attach", "device", "detach", "delete-disk"] {
                #expect(plan.status("qs/\(kind)[\(role)]") == .todo, "\(kind)[\(role)]")
            }
        }
        let preMount = try #require(plan.action(ActionID(parsing: "qs/pre-mount")!))
        #expect(preMount.dependsOn.map(\.description) == ["qs/device[os]", "qs/device[lun0]", "qs/device[lun3]"])
        // One image of all three disks, made once they are unmounted.
        #expect(plan.action(ActionID(parsing: "qs/image")!)?.dependsOn.map(\.description) == ["qs/unmount"])
        #expect(!plan.pendingIDs.contains { $0.contains("snapshot") })
    }

    @Test func twoBuildsAreIndependentSubgraphs() throws {
        let a = try desiredBuild(name: "web")
        let b = try desiredBuild(name: "worker")
        let plan = Planner.plan([a, b], observed: [:])
        for action in plan.actions { #expect(action.dependsOn.allSatisfy { $0.build == action.id.build }) }
        #expect(plan.builds.map(\.name) == ["web", "worker"])
        #expect(plan.pending.count == 40)
    }

    @Test func provisionOnlyBuildsHaveNoOutputsAndKeepOptionKeepsTemporaries() throws {
        let skip = try desiredBuild(outputs: "    outputs: {skip: true}")
        let plan = Planner.plan([skip], observed: [:])
        #expect(!plan.pendingIDs.contains { $0.contains("snapshot") || $0.contains("image") })
        #expect(
            plan.action(ActionID(parsing: "qs/delete-disk[os]")!)?.dependsOn.map(\.description) == ["qs/detach[os]"])
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

    /// A new gallery version after the temporary disk is gone needs a new disk: every step
    /// runs again on it before the version is made from it (an earlier Kiln once captured a
    /// fresh, unprovisioned disk, racing its creation; the robustness matrix's secrets run
    /// found it).
    @Test func aNewVersionAfterCleanupProvisionsTheNewDiskBeforeItIsCaptured() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.galleryVersion = nil
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(
            plan.pendingIDs == [
                "qs/gallery-definition",
                "qs/create-disk[os]", "qs/attach[os]", "qs/device[os]", "qs/pre-mount", "qs/mount", "qs/post-mount",
                "qs/chroot-mounts", "qs/copy-files", "qs/provision[motd]", "qs/provision[setup]", "qs/pre-unmount",
                "qs/restore-files", "qs/unmount", "qs/detach[os]", "qs/gallery-version",
                "qs/replicate[eastus]", "qs/replicate[westus2]", "qs/delete-disk[os]"
            ])
        #expect(plan.status("qs/provision[setup]") == .todo)
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
        o.galleryVersion?.regions[1] = .init(
            name: "westus2", replicas: 2, storageAccountType: "Standard_LRS", state: "Replicating", progress: 45)
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/replicate[westus2]"])
        #expect(plan.status("qs/replicate[westus2]") == .inFlight)
        #expect(plan.reason("qs/replicate[westus2]") == "replicating to westus2 (45%)")
    }
}

@Suite struct PlanResume {
    @Test func aKillDuringProvisioningRerunsOnlyTheUnfinishedStep() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(
            disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"], rootMounted: true,
            chrootMountsPresent: true,
            journal: journal(
                d, done: ["pre-mount", "post-mount", "copy-files", "provision[motd]"],
                inFlight: ["provision[setup]": nil]))
        let plan = Planner.plan([d], observed: ["qs": o])
        // The gallery definition is checked again by every apply until the version is published.
        #expect(Array(plan.pendingIDs.prefix(2)) == ["qs/gallery-definition", "qs/provision[setup]"])
        #expect(plan.reason("qs/provision[setup]") == "interrupted in the last run: runs again")
        for done in [
            "create-disk[os]", "attach[os]", "device[os]", "pre-mount", "mount", "post-mount", "chroot-mounts",
            "copy-files", "provision[motd]"
        ] {
            #expect(plan.status("qs/\(done)") == .done, "\(done)")
        }
    }

    @Test func aRebootRemountsButDoesNotRepeatFinishedSteps() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(
            disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"],
            journal: journal(d, done: ["pre-mount", "post-mount", "copy-files", "provision[motd]"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(
            Array(plan.pendingIDs.prefix(5)) == [
                "qs/gallery-definition", "qs/mount", "qs/post-mount", "qs/chroot-mounts", "qs/provision[setup]"
            ])
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
        let url =
            "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/eastus/operations/abc"
        let o = ObservedBuild(journal: journal(d, done: [], inFlight: ["create-disk[os]": url]))
        let plan = Planner.plan([d], observed: ["qs": o])
        let create = try #require(plan.action(ActionID(parsing: "qs/create-disk[os]")!))
        #expect(create.status == .inFlight)
        #expect(create.operation == url)
        #expect(PlanRenderer.text(plan).contains("(in flight since the last run: waits for it)"))
    }

    /// Unmounted after provisioning (the journal says so, on the disk that still exists):
    /// only the outputs, the detach beside them and the cleanup remain.
    @Test func afterTheUnmountOnlyPublishingTheDetachAndCleanupRemain() throws {
        let d = try desiredBuild()
        let local = ["pre-mount", "post-mount", "copy-files", "provision[motd]", "provision[setup]", "pre-unmount"]
        let o = ObservedBuild(
            disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"],
            journal: journal(d, done: local + ["restore-files", "unmount"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(
            plan.pendingIDs == [
                "qs/gallery-definition", "qs/detach[os]", "qs/image", "qs/gallery-version", "qs/replicate[eastus]",
                "qs/replicate[westus2]", "qs/delete-disk[os]"
            ])
    }

    /// A snapshot under the build's name is an earlier Kiln's (it captured through
    /// snapshots): deleted with the disk, once the outputs are made. A disk with no journal
    /// of its steps is provisioned again: nothing shows what was done on it.
    @Test func anEarlierKilnsSnapshotIsDeletedAndAnUnjournaledDiskProvisionedAgain() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(
            disks: [.os: disk(d, .os)], snapshots: [.os: ObservedResource(id: d.snapshotID(.os).description)])
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.status("qs/create-disk[os]") == .done)
        #expect(plan.status("qs/provision[motd]") == .todo)
        #expect(
            plan.action(ActionID(parsing: "qs/delete-snapshot[os]")!)?.dependsOn.map(\.description) == [
                "qs/image", "qs/gallery-version"
            ])
        #expect(plan.status("qs/delete-snapshot[os]") == .todo)
    }

    @Test func aFailedStepIsRetriedWithItsMessage() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(
            disks: [.os: disk(d, .os, lun: 0)], devices: [.os: "/dev/loop3"], rootMounted: true,
            chrootMountsPresent: true,
            journal: journal(d, done: ["pre-mount", "post-mount", "copy-files"], failed: ["provision[motd]": "exit 2"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(Array(plan.pendingIDs.prefix(2)) == ["qs/gallery-definition", "qs/provision[motd]"])
        #expect(plan.reason("qs/provision[motd]") == "failed in the last run (exit 2): runs again")
    }

    @Test func leftoversOfAnOlderRunAreReleasedBeforeAttaching() throws {
        let d = try desiredBuild()
        let old = Leftover(
            id: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/kiln-qs-0123456789-os",
            kind: .disk, runID: "0123456789", attached: true, mountedAt: "/mnt/kiln/qs")
        let plan = Planner.plan([d], observed: ["qs": ObservedBuild(leftovers: [old])])
        #expect(plan.status("qs/release-leftover[kiln-qs-0123456789-os]") == .todo)
        #expect(
            plan.reason("qs/release-leftover[kiln-qs-0123456789-os]")
                == "left over from run 0123456789 of this build: unmount /mnt/kiln/qs, then detach, then delete")
        #expect(
            plan.action(ActionID(parsing: "qs/attach[os]")!)?.dependsOn.map(\.description).contains(
                "qs/release-leftover[kiln-qs-0123456789-os]") == true)
    }
}
