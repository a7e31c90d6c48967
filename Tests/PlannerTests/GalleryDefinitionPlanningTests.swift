import Foundation
import Model
import Planner
import TestSupport
import Testing

/// The gallery and image definition: ensured from the start of the apply, beside the disk
/// work, and only while the gallery version is still to publish.
@Suite struct GalleryDefinitionPlanning {
    @Test func itDependsOnlyOnTheSourceAndTheVersionWaitsForIt() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: [:])
        let definition = try #require(plan.action(ActionID(parsing: "qs/gallery-definition")!))
        #expect(definition.dependsOn.map(\.description) == ["qs/resolve-source"])
        #expect(definition.status == .todo && definition.change == .create)
        #expect(
            definition.resource
                == "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def")
        #expect(
            plan.action(ActionID(parsing: "qs/gallery-version")!)?.dependsOn.map(\.description) == [
                "qs/unmount", "qs/gallery-definition"
            ])
        // Nothing of the disk chain is on its way, and nothing of it waits for it.
        let chain = Set(
            plan.actions.map(\.id).filter {
                ![.galleryDefinition, .resolveSource, .galleryVersion, .replicate, .deleteSnapshot, .deleteDisk]
                    .contains($0.kind)
            })
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
        #expect(
            Planner.plan([d], observed: ["qs": converged(d)]).action(ActionID(parsing: "qs/gallery-definition")!) == nil
        )
        var replicating = converged(d)
        replicating.galleryVersion?.regions[1].state = "Replicating"
        let waiting = Planner.plan([d], observed: ["qs": replicating])
        #expect(waiting.pendingIDs == ["qs/replicate[westus2]"])
        #expect(waiting.action(ActionID(parsing: "qs/gallery-definition")!) == nil)
        #expect(
            waiting.action(ActionID(parsing: "qs/gallery-version")!)?.dependsOn.map(\.description) == [
                "qs/unmount"
            ])
        var drifted = converged(d)
        drifted.galleryVersion?.excludeFromLatest = true
        #expect(Planner.plan([d], observed: ["qs": drifted]).pendingIDs == ["qs/update-gallery-version"])
    }

    @Test func absentWithoutAGalleryOutput() throws {
        let imageOnly = try desiredBuild(
            outputs:
                "    outputs:\n      image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/qs}"
        )
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
        let url =
            "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/eastus/operations/gal"
        let interrupted = Planner.plan(
            [d], observed: ["qs": ObservedBuild(journal: journal(d, done: [], inFlight: ["gallery-definition": url]))])
        let action = try #require(interrupted.action(ActionID(parsing: "qs/gallery-definition")!))
        #expect(action.status == .inFlight && action.operation == url)
        let done = Planner.plan([d], observed: ["qs": ObservedBuild(journal: journal(d, done: ["gallery-definition"]))])
        #expect(done.status("qs/gallery-definition") == .todo)
    }
}

extension ObservedBuild {
    func withoutGallery(_ d: DesiredBuild) -> ObservedBuild {
        var o = self
        o.galleryVersion = nil
        return o
    }
}
