import Model
import Testing

@testable import Planner

/// A run killed while the builder VM's detach was under way: Azure no longer lists the disk
/// on the VM but the disk still names the VM in managedBy. Found by the crash matrix
/// (RobustnessTests/CrashTests): the plan used to call this "attached to another VM".
@Suite struct DetachUnderWay {
    @Test func aDetachStillUnderWayIsWaitedForNotAConflict() throws {
        let d = try desiredBuild()
        let url =
            "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/eastus/operations/detach"
        let o = ObservedBuild(
            disks: [
                .os: ObservedDisk(resource: ObservedResource(id: d.diskID(.os).description), changingOnBuilder: true)
            ],
            journal: journal(
                d,
                done: [
                    "pre-mount", "post-mount", "copy-files", "provision[motd]", "provision[setup]",
                    "pre-unmount", "restore-files", "unmount"
                ],
                inFlight: ["detach[os]": url]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.conflicts.isEmpty)
        #expect(plan.status("qs/detach[os]") == .inFlight)
        #expect(plan.status("qs/image") == .todo)
        #expect(plan.status("qs/delete-disk[os]") == .todo)
        #expect(plan.status("qs/provision[setup]") == .done)
    }

    @Test func aDiskOnAnotherVMIsStillAConflict() throws {
        let d = try desiredBuild()
        let other = "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/other"
        let o = ObservedBuild(disks: [
            .os: ObservedDisk(resource: ObservedResource(id: d.diskID(.os).description), attachedElsewhere: other)
        ])
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.conflicts.map(\.message) == ["disk \(d.diskName(.os)) is attached to another VM (\(other))"])
    }
}

/// A run killed while the builder VM's attach was under way: Azure lists the disk on the VM
/// from the moment it accepts the attach, so the listing alone does not say the attach
/// holds. Found by issue 13's matrix: the resume took it as done, and when the operation
/// then failed it waited its whole device timeout for a device that never came.
@Suite struct AttachUnderWay {
    @Test func anAttachThisRunHasInFlightIsReJoinedEvenThoughTheVMListsTheDisk() throws {
        let d = try desiredBuild()
        let url =
            "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/eastus/operations/attach"
        let o = ObservedBuild(
            disks: [.os: ObservedDisk(resource: ObservedResource(id: d.diskID(.os).description), builderLUN: 0)],
            journal: journal(d, done: ["create-disk[os]"], inFlight: ["attach[os]": url]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.status("qs/attach[os]") == .inFlight)
        #expect(plan.actions.first { $0.id.description == "qs/attach[os]" }?.operation == url)
        #expect(plan.status("qs/pre-mount") == .todo)
    }

    @Test func anAttachNoRunHasInFlightIsTakenFromTheListing() throws {
        let d = try desiredBuild()
        let o = ObservedBuild(
            disks: [.os: ObservedDisk(resource: ObservedResource(id: d.diskID(.os).description), builderLUN: 0)],
            journal: journal(d, done: ["create-disk[os]", "attach[os]"]))
        let plan = Planner.plan([d], observed: ["qs": o])
        #expect(plan.status("qs/attach[os]") == .done)
    }
}
