import Model
import Testing

@testable import Planner

/// Remote state: a build another VM holds is that VM's to plan; a build whose disk a dead VM
/// left attached (its lease ended) is taken over, continuing after the last finished step.
@Suite struct FleetPlan {
    static let other = "/subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/dead-vm"

    /// The dead VM's run: everything up to the first provisioning step done, its disk still
    /// attached to it.
    func deadVMsRun(_ d: DesiredBuild) -> ObservedBuild {
        ObservedBuild(
            disks: [
                .os: ObservedDisk(
                    resource: ObservedResource(id: d.diskID(.os).description), attachedElsewhere: Self.other)
            ],
            journal: journal(
                d, done: ["create-disk[os]", "attach[os]", "pre-mount", "post-mount", "copy-files", "provision[motd]"]))
    }

    @Test func aDiskADeadVMLeftIsTakenOverAndTheRunContinues() throws {
        var d = try desiredBuild()
        d.takesOverDisks = true
        let plan = Planner.plan([d], observed: ["qs": deadVMsRun(d)])
        #expect(plan.conflicts.isEmpty)
        let takeOver = try #require(plan.action(ActionID("qs", .takeOver(.os))))
        #expect(takeOver.status == .todo)
        #expect(takeOver.resource == "\(d.diskName(.os)) from VM dead-vm")
        #expect(plan.action(ActionID("qs", .attach(.os)))?.dependsOn.contains(takeOver.id) == true)
        #expect(plan.status("qs/attach[os]") == .todo)
        #expect(plan.status("qs/mount") == .todo)
        // What the dead VM finished is not redone; the step after it runs.
        #expect(plan.status("qs/provision[motd]") == .done)
        #expect(plan.status("qs/provision[setup]") == .todo)
        #expect(plan.status("qs/create-disk[os]") == .done)
    }

    @Test func withoutTheLeaseTheDiskOnAnotherVMStaysAConflict() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: ["qs": deadVMsRun(d)])
        #expect(plan.action(ActionID("qs", .takeOver(.os))) == nil)
        #expect(plan.conflicts.count == 1)
    }

    @Test func aBuildRunningOnAnotherVMHasNoActionsHere() throws {
        var d = try desiredBuild()
        d.runningElsewhere = "VM kiln-builder-2 (pid 42)"
        let plan = Planner.plan([d], observed: ["qs": deadVMsRun(d)])
        #expect(plan.actions.isEmpty && plan.conflicts.isEmpty)
        let text = PlanRenderer.text(plan)
        #expect(text.contains("qs is running on VM kiln-builder-2 (pid 42)"))
        #expect(text.contains("No changes for this VM to make."))
    }

    @Test func theTakeOverActionIdRoundTrips() {
        let id = ActionID("web", .takeOver(.data(lun: 1)))
        #expect(id.description == "web/take-over[lun1]")
        #expect(ActionID(parsing: id.description) == id)
    }
}
