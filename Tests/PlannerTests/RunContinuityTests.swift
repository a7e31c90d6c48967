import Foundation
import Model
import Planner
import TestSupport
import Testing

/// A quick-start-like build whose two steps and source can be varied.
private func build(motd: String = "echo hi > /etc/motd", setup: String = "echo setup\n", sku: String = "server") throws
    -> DesiredBuild
{
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    try dir.write("setup.sh", setup)
    let r = try loadManifest(
        """
        builds:
          - name: qs
            source: {platformImage: 'Canonical:ubuntu:\(sku):latest'}
            provision:
              - name: motd
                shell: ['\(motd)']
              - name: setup
                script: setup.sh
            outputs:
              image: {id: /subscriptions/\(sub)/resourceGroups/rg/providers/Microsoft.Compute/images/qs}
        """, in: dir)
    let b = try #require(r.manifest?.builds.first, "\(r.errors)")
    let digest = try BuildDigest.compute(for: b, baseDirectory: dir.url, resolvedPlatformVersion: "1.0.0")
    return DesiredBuild(
        build: b, digest: digest, subscription: sub, location: "eastus", temporaryResourceGroup: "rg",
        imageID: try b.outputs.image.map { try ResourceID(parsing: $0.id) })
}

/// The journal of `d`'s run after `done` steps finished (each with `d`'s step digests).
private func ran(_ d: DesiredBuild, done: [String], failed: [String: String] = [:], generation: Int = 0) -> JournalView
{
    var view = journal(d, done: done, failed: failed)
    view.runID = DesiredBuild.runID(for: d.digest, generation: generation)
    view.digest = d.digest.value
    view.generation = generation
    for id in view.completed where id.kind == .provision { view.stepDigests[id] = d.stepDigest(id.target ?? "") }
    return view
}

@Suite struct RunContinuityRules {
    @Test func theRunIDFollowsWhatTheDiskIsMadeOfNotTheSteps() throws {
        let original = try build()
        #expect(try build(setup: "echo fixed\n").runID == original.runID)
        #expect(try build(motd: "echo other > /etc/motd").runID == original.runID)
        #expect(try build(sku: "server-gen1").runID != original.runID)
        var next = original
        next.generation = 1
        #expect(next.runID != original.runID)
        #expect(next.diskName(.os) == "kiln-qs-\(next.runID)-os")
    }

    @Test func aFailedStepFixedContinuesTheRunFromThatStep() throws {
        let failedRun = try build(setup: "exit 3\n")
        let fixed = try build(setup: "echo fixed\n")
        let view = ran(
            failedRun,
            done: [
                "resolve-source", "create-disk[os]", "attach[os]", "device[os]", "pre-mount", "mount", "post-mount",
                "chroot-mounts", "copy-files", "provision[motd]"
            ],
            failed: ["provision[setup]": "exit status 3"])
        let decision = RunContinuity.generation(for: fixed, journal: view)
        #expect(decision.generation == 0)
        #expect(decision.freshBecause == nil)

        // On the same disk, mounted: only the fixed step and what follows are left.
        var observed = ObservedBuild()
        observed.disks[.os] = disk(fixed, .os, lun: 0)
        observed.devices[.os] = "/dev/loop7"
        observed.rootMounted = true
        observed.chrootMountsPresent = true
        observed.journal = view
        let plan = Planner.plan([fixed], observed: ["qs": observed])
        #expect(plan.status("qs/create-disk[os]") == .done)
        #expect(plan.status("qs/provision[motd]") == .done)
        #expect(plan.status("qs/provision[setup]") == .todo)
        #expect(plan.reason("qs/provision[setup]").contains("failed in the last run"))
    }

    @Test func editingAStepThatAlreadyRanStartsAFreshRun() throws {
        let first = try build(setup: "exit 3\n")
        let edited = try build(motd: "echo edited > /etc/motd", setup: "exit 3\n")
        let view = ran(
            first, done: ["create-disk[os]", "mount", "provision[motd]"], failed: ["provision[setup]": "exit status 3"])
        let decision = RunContinuity.generation(for: edited, journal: view)
        #expect(decision.generation == 1)
        #expect(decision.freshBecause?.contains("step motd already ran") == true)
    }

    @Test func aChangeAfterProvisioningEndedStartsAFreshRun() throws {
        let first = try build()
        let edited = try build(setup: "echo more\n")
        // Every step finished and the disk was unmounted: the setup edit cannot be applied on top.
        let view = ran(
            first, done: ["provision[motd]", "provision[setup]", "pre-unmount", "restore-files", "unmount"],
            generation: 2)
        let decision = RunContinuity.generation(for: edited, journal: view)
        #expect(decision.generation == 3)
        #expect(decision.freshBecause?.contains("past provisioning") == true)
    }

    @Test func theSameInputsKeepTheGenerationAndOtherSettingsStartOver() throws {
        let d = try build()
        #expect(
            RunContinuity.generation(for: d, journal: ran(d, done: ["provision[motd]"], generation: 2)).generation == 2)
        // A new source: the names change anyway, back to generation 0.
        let other = try build(sku: "server-gen1")
        #expect(
            RunContinuity.generation(for: other, journal: ran(d, done: ["provision[motd]"], generation: 2)).generation
                == 0)
        #expect(RunContinuity.generation(for: d, journal: JournalView()).generation == 0)
    }

    @Test func aStepRecordedWithOtherContentIsNotDone() throws {
        let first = try build()
        let edited = try build(motd: "echo edited > /etc/motd")
        var view = ran(first, done: ["provision[motd]"])
        view.digest = edited.digest.value
        var observed = ObservedBuild()
        observed.disks[.os] = disk(edited, .os, lun: 0)
        observed.rootMounted = true
        observed.journal = view
        let plan = Planner.plan([edited], observed: ["qs": observed])
        #expect(plan.status("qs/provision[motd]") == .todo)
    }
}
