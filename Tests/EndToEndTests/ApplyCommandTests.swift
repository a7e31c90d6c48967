import Foundation
import TestSupport
import Testing

/// The main job: `kiln apply --emulator` builds the quick start for real (a platform image's
/// disk attached as a loop device, mounted, provisioned in a chroot, unmounted and published),
/// then a second plan has nothing to do; and it resumes after SIGKILL.
@Suite(.serialized, .endToEnd, .enabled(if: Privileges.isRoot, "needs root: attaches loop devices, mounts and chroots"))
struct ApplyTheQuickstart {
    /// A scratch copy of the examples; `setupDelay` makes the quick start's script sleep first.
    func scratch(_ label: String, setupDelay: Int? = nil) throws -> TemporaryDirectory {
        let dir = try manifestScratch(label)
        if let setupDelay {
            try dir.edit("manifests/scripts/setup.sh", replacing: "set -eu\n", with: "set -eu\nsleep \(setupDelay)\n")
        }
        return dir
    }

    /// `kiln apply --emulator --auto-approve` of the quick start, started in the background.
    func startApply(in dir: TemporaryDirectory) throws -> BackgroundKiln {
        try BackgroundKiln(["apply", "--emulator", "--auto-approve", "manifests/quickstart.yaml"], in: dir.url)
    }

    @Test func applyBuildsAndPublishesThenThePlanIsEmpty() async throws {
        let dir = try scratch("kiln-apply")
        let apply = try await KilnBinary.run(
            ["apply", "--emulator", "--auto-approve", "--artifact", "out.json", "manifests/quickstart.yaml"],
            in: dir.url)
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
        let artifact = try String(contentsOf: dir.url.appendingPathComponent("out.json"), encoding: .utf8)
        #expect(artifact.contains("images/quickstart"))
        #expect(artifact.contains("versions/1.0.0"))
        let plan = try await KilnBinary.run(
            ["plan", "--emulator", "--detailed-exitcode", "manifests/quickstart.yaml"], in: dir.url)
        #expect(plan.status == 0, "\(plan.stdout)\n\(plan.stderr)")
        #expect(plan.stdout == "No changes. The published images match the manifest.\n")
        let drift = try await KilnBinary.run(["drift", "--emulator", "manifests/quickstart.yaml"], in: dir.url)
        #expect(drift.status == 0, "\(drift.stdout)")
        // Nothing left on the machine: no mount under the build's path, no loop device of ours.
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath("quickstart")).isEmpty)
    }

    /// Killed with SIGKILL in the middle of provisioning, `kiln apply` run again adopts what
    /// exists, re-runs only what had not finished, and ends as an uninterrupted run does.
    @Test func aKilledApplyResumesWithoutRedoingFinishedWork() async throws {
        // The second step is slow enough to be killed in the middle of it.
        let dir = try scratch("kiln-resume", setupDelay: 8)
        let apply = try startApply(in: dir)
        let sawSetupStart = await apply.wait(
            for: "provision[setup]", in: dir.url.appendingPathComponent(".kiln/quickstart.journal.json"))
        await apply.stop()
        #expect(sawSetupStart, "\(apply.output)")

        // The same inputs (the slow script included): the resumed run keeps the killed run's names.
        let resumed = try await KilnBinary.run(
            ["apply", "--emulator", "--auto-approve", "manifests/quickstart.yaml"], in: dir.url)
        #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
        // Finished work is not redone: the disk is not created again, motd does not run again.
        #expect(!resumed.stdout.contains("quickstart/create-disk[os]: creating"))
        #expect(!resumed.stdout.contains("quickstart/provision[motd]: running"))
        #expect(resumed.stdout.contains("quickstart/provision[setup]: running"))
        let plan = try await KilnBinary.run(
            ["plan", "--emulator", "--detailed-exitcode", "manifests/quickstart.yaml"], in: dir.url)
        #expect(plan.status == 0, "\(plan.stdout)")
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath("quickstart")).isEmpty)
    }

    /// A provisioning step that fails stops the build with the command and its output; fixed,
    /// the next apply continues the same run on the same disk from that step: nothing
    /// finished is redone, and each Azure resource is created once (the emulator's request log).
    @Test func aFailingStepFixedResumesFromThatStep() async throws {
        let dir = try scratch("kiln-fix")
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emulator"))
        let target = ["--emulator-endpoints", emulator.endpointsFile, "--auto-approve", "manifests/quickstart.yaml"]
        try dir.edit(
            "manifests/scripts/setup.sh", replacing: "set -eu\n",
            with: "set -eu\necho 'the mirror is down' >&2; exit 3\n")

        let failed = try await KilnBinary.run(["apply"] + target, in: dir.url)
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let report = failed.stdout + failed.stderr
        #expect(report.contains("quickstart/provision[setup]"), "\(report)")
        #expect(report.contains("/tmp/kiln-setup.sh --role web"), "the failed command is shown: \(report)")
        #expect(report.contains("the mirror is down"), "the output's tail is shown: \(report)")

        try dir.edit("manifests/scripts/setup.sh", replacing: "echo 'the mirror is down' >&2; exit 3\n", with: "")
        let plan = try await KilnBinary.run(
            ["plan", "--emulator-endpoints", emulator.endpointsFile, "manifests/quickstart.yaml"], in: dir.url)
        #expect(plan.stdout.contains("failed in the last run"), "\(plan.stdout)")
        let resumed = try await KilnBinary.run(["apply"] + target, in: dir.url)
        #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
        #expect(!resumed.stdout.contains("quickstart/create-disk[os]: creating"), "\(resumed.stdout)")
        #expect(!resumed.stdout.contains("quickstart/provision[motd]: running"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("quickstart/provision[setup]: running"), "\(resumed.stdout)")

        let puts = try await emulator.requests().filter { $0.method == "PUT" && $0.isMutatingARM }.map(\.key)
        #expect(puts.filter { $0.contains("/disks/") }.count == 1, "\(puts)")
        #expect(Set(puts).count == puts.count, "a resource was created twice: \(puts)")
        let converged = try await KilnBinary.run(
            [
                "plan", "--detailed-exitcode", "--emulator-endpoints", emulator.endpointsFile,
                "manifests/quickstart.yaml"
            ], in: dir.url)
        #expect(converged.status == 0, "\(converged.stdout)")
        #expect(try await emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath("quickstart")).isEmpty)
    }

    /// Editing a step that already ran on the failed run's disk cannot be applied on top of
    /// it: the next apply starts a fresh run (new disk names) and releases the old run's
    /// mounted, attached disk — unmount, detach, delete — before mounting its own.
    @Test func editingAStepThatAlreadyRanStartsAFreshRunAndReleasesTheOldDisk() async throws {
        let dir = try scratch("kiln-fresh")
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emulator"))
        let target = ["--emulator-endpoints", emulator.endpointsFile, "--auto-approve", "manifests/quickstart.yaml"]
        try dir.edit("manifests/scripts/setup.sh", replacing: "set -eu\n", with: "set -eu\nexit 3\n")
        let failed = try await KilnBinary.run(["apply"] + target, in: dir.url)
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")

        try dir.edit("manifests/scripts/setup.sh", replacing: "exit 3\n", with: "")
        try dir.edit("manifests/quickstart.yaml", replacing: "baked by kiln", with: "baked again by kiln")
        let plan = try await KilnBinary.run(
            ["plan", "--emulator-endpoints", emulator.endpointsFile, "manifests/quickstart.yaml"], in: dir.url)
        #expect(plan.stdout.contains("left over from run"), "\(plan.stdout)")
        #expect(plan.stdout.contains("a fresh run on new disks: step motd already ran on the disk"), "\(plan.stdout)")
        let fresh = try await KilnBinary.run(["apply"] + target, in: dir.url)
        #expect(fresh.status == 0, "\(fresh.stdout)\n\(fresh.stderr)")
        #expect(fresh.stdout.contains("quickstart/provision[motd]: running"), "\(fresh.stdout)")

        let diskPuts = try await emulator.requests().filter { $0.method == "PUT" && $0.path.contains("/disks/") }.map(
            \.key)
        #expect(diskPuts.count == 2 && Set(diskPuts).count == 2, "one disk per run: \(diskPuts)")
        #expect(
            try await emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty, "the old run's disk is released")
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath("quickstart")).isEmpty)
        #expect(await Leaks.loopDevices(backedUnder: dir.url).isEmpty)
    }

    /// Kills the apply of `dir` (served by `emulator`) once the slow setup step has started.
    func killDuringSetup(_ dir: TemporaryDirectory, _ emulator: ServedEmulator) async throws {
        let apply = try BackgroundKiln(
            ["apply", "--emulator-endpoints", emulator.endpointsFile, "--auto-approve", "manifests/quickstart.yaml"],
            in: dir.url)
        #expect(
            await apply.wait(
                for: "provision[setup]", in: dir.url.appendingPathComponent(".kiln/quickstart.journal.json")),
            "\(apply.output)")
        apply.signal(SIGKILL)
        await apply.waitForExit()
        // The step's own processes die with the machine in a real crash; here they linger
        // (in kiln's session): stop them.
        await apply.stop()
    }

    /// A VM reboot in the middle of provisioning: the mounts are gone, the disk is still
    /// attached. The next apply mounts again and runs only the step that had not finished.
    @Test func afterARebootTheRootIsMountedAgainAndOnlyTheUnfinishedStepRuns() async throws {
        let dir = try scratch("kiln-reboot", setupDelay: 8)
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emulator"))
        try await killDuringSetup(dir, emulator)
        await Leaks.unmountAll(under: dir.hostPaths.mountPath("quickstart"))
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath("quickstart")).isEmpty)

        let resumed = try await KilnBinary.run(
            ["apply", "--emulator-endpoints", emulator.endpointsFile, "--auto-approve", "manifests/quickstart.yaml"],
            in: dir.url)
        #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
        #expect(resumed.stdout.contains("quickstart/mount: running"), "\(resumed.stdout)")
        #expect(!resumed.stdout.contains("quickstart/attach[os]: running"), "\(resumed.stdout)")
        #expect(!resumed.stdout.contains("quickstart/provision[motd]: running"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("quickstart/provision[setup]: running"), "\(resumed.stdout)")
        let puts = try await emulator.requests().filter { $0.method == "PUT" && $0.isMutatingARM }.map(\.key)
        #expect(Set(puts).count == puts.count, "a resource was created twice: \(puts)")
        #expect(try await emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
    }

    /// With the journal gone, Kiln finds the killed run's disk by its name and tags and
    /// adopts it (no second disk); the steps run again on it, as nothing records them.
    @Test func aLostJournalAdoptsTheRunsDiskByName() async throws {
        let dir = try scratch("kiln-lost-journal", setupDelay: 8)
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emulator"))
        try await killDuringSetup(dir, emulator)
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent(".kiln/quickstart.journal.json"))

        let resumed = try await KilnBinary.run(
            ["apply", "--emulator-endpoints", emulator.endpointsFile, "--auto-approve", "manifests/quickstart.yaml"],
            in: dir.url)
        #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
        #expect(!resumed.stdout.contains("quickstart/create-disk[os]: creating"), "\(resumed.stdout)")
        let diskPuts = try await emulator.requests().filter { $0.method == "PUT" && $0.path.contains("/disks/") }
        #expect(diskPuts.count == 1, "\(diskPuts.map(\.key))")
        #expect(try await emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
        let plan = try await KilnBinary.run(
            [
                "plan", "--detailed-exitcode", "--emulator-endpoints", emulator.endpointsFile,
                "manifests/quickstart.yaml"
            ], in: dir.url)
        #expect(plan.status == 0, "\(plan.stdout)")
    }

    @Test func aSecondApplyOnTheSameBuildIsRefusedWithTheHolder() async throws {
        let dir = try scratch("kiln-lock", setupDelay: 6)
        let first = try startApply(in: dir)
        await first.wait(for: "\(first.pid)", in: dir.url.appendingPathComponent(".kiln/quickstart.lock"))
        let second = try await KilnBinary.run(
            [
                "apply", "--emulator-endpoints", "/nonexistent/endpoints.json", "--auto-approve",
                "manifests/quickstart.yaml"
            ], in: dir.url)
        #expect(second.status == 1)
        #expect(second.stderr.contains("\(first.pid)"), "\(second.stderr)")
        #expect(await first.waitForExit() == 0, "\(first.output)")
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath("quickstart")).isEmpty)
    }
}
