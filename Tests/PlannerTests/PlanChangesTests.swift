import Foundation
import Model
import Planner
import TestSupport
import Testing

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
        var o = ObservedBuild(
            image: ObservedImage(resource: ObservedResource(id: d.imageID!.description), digest: previous.value))
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
        o.galleryVersion?.regions = [
            .init(name: "eastus", replicas: 1, storageAccountType: "Standard_LRS"),
            .init(name: "westus2", replicas: 1, storageAccountType: "Standard_LRS"),
            .init(name: "northeurope", replicas: 1, storageAccountType: "Standard_LRS")
        ]
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/update-gallery-version"])
        #expect(
            plan.reason("qs/update-gallery-version")
                == "published version drifted: targetRegions[westus2].replicas 1 → 2; targetRegions[northeurope] not in the manifest"
        )
        var missing = converged(d)
        missing.galleryVersion?.regions.removeLast()
        let repair = Planner.plan([d], observed: ["qs": missing])
        #expect(repair.pendingIDs == ["qs/update-gallery-version", "qs/replicate[westus2]"])
    }

    /// Issue 15's published properties: a region's own exclusion from latest is repaired in
    /// place; its encryption and the version's replication mode are fixed when the version
    /// is made, so a difference there is a conflict; `kiln drift` reports all of them.
    @Test func theNewPublishedPropertiesDriftInPlaceOrConflict() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.galleryVersion?.regions[0].excludeFromLatest = true
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.pendingIDs == ["qs/update-gallery-version"])
        #expect(
            plan.reason("qs/update-gallery-version").contains("targetRegions[eastus].excludeFromLatest true → false"))

        var fixed = converged(d)
        fixed.galleryVersion?.replicationMode = "Shallow"
        fixed.galleryVersion?.regions[0].diskEncryptionSetId =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/x"
        let conflicts = Planner.plan([d], observed: ["qs": fixed]).conflicts.map(\.message)
        #expect(conflicts.count == 2, "\(conflicts)")
        #expect(conflicts.contains { $0.contains("replicationMode Shallow, the manifest Full") })
        #expect(conflicts.contains { $0.contains("targetRegions[eastus].diskEncryptionSetId") })
        let drift = DriftDetector.drift([d], observed: ["qs": fixed])
        #expect(
            drift.filter { !$0.repairableInPlace }.map(\.field).sorted() == [
                "gallery.replicationMode", "gallery.targetRegions[eastus].diskEncryptionSetId"
            ])
    }

    /// The image deleted behind Kiln's back while the version stays: the version does not
    /// hold the provisioned disk the new image must be made from, so the disk is made and
    /// provisioned again (the journal's steps are stale) before the image; found with the
    /// end-to-end test `DriftAndFailure`, where the image was rebuilt from the bare source.
    @Test func aDeletedImageBesideItsVersionIsRebuiltFromAFreshlyProvisionedDisk() throws {
        let d = try desiredBuild()
        var o = converged(d)
        o.image = nil
        o.journal = journal(
            d,
            done: [
                "pre-mount", "post-mount", "copy-files", "provision[motd]", "provision[setup]", "pre-unmount",
                "restore-files"
            ])
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(
            plan.pendingIDs == [
                "qs/create-disk[os]", "qs/attach[os]", "qs/device[os]", "qs/pre-mount", "qs/mount", "qs/post-mount",
                "qs/chroot-mounts", "qs/copy-files", "qs/provision[motd]", "qs/provision[setup]", "qs/pre-unmount",
                "qs/restore-files", "qs/unmount", "qs/detach[os]", "qs/image", "qs/delete-disk[os]"
            ])
        #expect(plan.status("qs/provision[motd]") == .stale)
        // With the provisioned disk still there (temporary.keep), only the image is made from it.
        var kept = o
        kept.disks = [.os: disk(d, .os)]
        kept.journal = journal(
            d,
            done: [
                "pre-mount", "post-mount", "copy-files", "provision[motd]", "provision[setup]", "pre-unmount",
                "restore-files", "unmount", "detach[os]"
            ])
        #expect(Planner.plan([d], observed: ["qs": kept]).pendingIDs == ["qs/image", "qs/delete-disk[os]"])
        // The same for a deleted version beside its image.
        var version = converged(d)
        version.galleryVersion = nil
        version.journal = o.journal
        let rebuild = Planner.plan([d], observed: ["qs": version])
        #expect(rebuild.status("qs/provision[setup]") == .stale)
        #expect(rebuild.status("qs/create-disk[os]") == .todo)
        #expect(rebuild.status("qs/image") == .done)
        #expect(rebuild.status("qs/gallery-version") == .todo)
        #expect(rebuild.status("qs/gallery-definition") == .todo)
    }

    @Test func aMissingSourceIsAConflictOnlyWhileADiskMustBeMadeFromIt() throws {
        var d = try desiredBuild()
        d.build.source = .disk("/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/golden")
        d.sourceID = try ResourceID(
            parsing: "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/disks/golden")
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
