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
