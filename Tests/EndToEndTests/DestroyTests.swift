import Foundation
import TestSupport
import Testing

/// `kiln apply --on-error keep|cleanup` and `kiln destroy`, with the real binary against a
/// served emulator (real loop devices, mounts and chroots). Each test has its own build
/// name (copies of the quick start named `onerror…`/`destroy…`), its own emulator and
/// scratch directory; serialized because they all load the machine heavily.
@Suite(.serialized, .endToEnd, .enabled(if: Privileges.isRoot, "needs root: attaches loop devices, mounts and chroots"))
struct DestroyAndOnError {
    static let disks = "Microsoft.Compute/disks"
    static let snapshots = "Microsoft.Compute/snapshots"
    static let images = "Microsoft.Compute/images"
    static let versions = "Microsoft.Compute/galleries/images/versions"

    /// A scratch copy of the examples with `manifests/<name>.yaml`: the quick start renamed.
    /// `script` replaces the quick start's setup script when given.
    func scratch(_ name: String, script: String? = nil) throws -> TemporaryDirectory {
        let dir = try manifestScratch("kiln-\(name)")
        let quickstart = try String(
            contentsOf: dir.url.appendingPathComponent("manifests/quickstart.yaml"), encoding: .utf8)
        try quickstart.replacingOccurrences(of: "quickstart", with: name)
            .write(to: dir.url.appendingPathComponent("manifests/\(name).yaml"), atomically: true, encoding: .utf8)
        if let script {
            try script.write(
                to: dir.url.appendingPathComponent("manifests/scripts/setup.sh"), atomically: true, encoding: .utf8)
        }
        return dir
    }

    static let failingScript = "#!/bin/sh\necho onerror: about to fail\necho GREETING is $GREETING\nexit 7\n"

    /// Runs kiln to its end.
    func kiln(_ arguments: [String], _ emulator: ServedEmulator, in dir: TemporaryDirectory) async throws
        -> ProcessResult
    {
        try await KilnBinary.run(arguments + ["--emulator-endpoints", emulator.endpointsFile], in: dir.url)
    }

    func expectNothingLeft(_ name: String, _ emulator: ServedEmulator, _ dir: TemporaryDirectory, outputs: Bool = false)
        async throws
    {
        #expect(try await emulator.resources(ofType: Self.disks).isEmpty)
        #expect(try await emulator.resources(ofType: Self.snapshots).isEmpty)
        if outputs {
            #expect(try await emulator.resources(ofType: Self.images).isEmpty)
            #expect(try await emulator.resources(ofType: Self.versions).isEmpty)
        }
        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath(name)).isEmpty)
        let loops = await Leaks.loopDevices(backedUnder: dir.url)
        #expect(loops.isEmpty, "\(loops)")
    }

    @Test func onErrorKeepReportsTheKeptDiskAndARerunAfterTheFixConverges() async throws {
        let name = "onerrorkeep"
        let dir = try scratch(name, script: Self.failingScript)
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"))

        let failed = try await kiln(["apply", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(failed.status == 1)
        // The step's output is streamed under the action, before the failure.
        #expect(failed.stdout.contains("  \(name)/provision[setup]: | onerror: about to fail"), "\(failed.stdout)")
        #expect(failed.stdout.contains("Kept for a cheap resume (--on-error keep):"), "\(failed.stdout)")
        let disks = try await emulator.resources(ofType: Self.disks)
        #expect(disks.count == 1)
        for disk in disks { #expect(failed.stdout.contains(disk)) }
        #expect(failed.stdout.contains("attached at LUN"))
        #expect(failed.stdout.contains("mounted at \(dir.hostPaths.mountPath(name))"))
        #expect(failed.stdout.contains("remove them with: kiln destroy "))
        #expect(failed.stdout.contains("\(name).yaml --emulator-endpoints"))
        // Kept as it was: still mounted, so the resume is cheap.
        #expect(await !Leaks.mounts(under: dir.hostPaths.mountPath(name)).isEmpty)

        // The fix: the failed step is the only one edited, so the run continues on the kept disk
        // (no release, no new disk) from that step, and the build converges.
        let original = try String(
            contentsOf: Repository.manifests.appendingPathComponent("scripts/setup.sh"), encoding: .utf8)
        try original.write(
            to: dir.url.appendingPathComponent("manifests/scripts/setup.sh"), atomically: true, encoding: .utf8)
        let fixed = try await kiln(["apply", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(fixed.status == 0, "\(fixed.stdout)\n\(fixed.stderr)")
        #expect(!fixed.stdout.contains("\(name)/release-leftover["), "\(fixed.stdout)")
        #expect(!fixed.stdout.contains("\(name)/create-disk[os]: creating"), "\(fixed.stdout)")
        #expect(fixed.stdout.contains("\(name)/provision[setup]: running"), "\(fixed.stdout)")
        let plan = try await kiln(["plan", "--detailed-exitcode", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(plan.status == 0, "\(plan.stdout)")
        try await expectNothingLeft(name, emulator, dir)
    }

    @Test func onErrorCleanupRemovesEverythingTheFailedBuildMade() async throws {
        let name = "onerrorclean"
        let dir = try scratch(name, script: Self.failingScript)
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"))

        let failed = try await kiln(
            ["apply", "--auto-approve", "--json", "--on-error", "cleanup", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(failed.status == 1)
        let events = failed.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let types = events.compactMap { $0["type"] as? String }
        #expect(types.contains("failed"))
        // Streamed output, as events; the step's environment value is not a secret, so it shows.
        #expect(
            events.contains {
                $0["type"] as? String == "output" && $0["line"] as? String == "onerror: about to fail"
                    && $0["action"] as? String == "\(name)/provision[setup]"
            })
        #expect(types.last == "cleanup", "\(types)")
        let teardown = try #require(events.last?["teardown"] as? [String: Any])
        #expect(teardown["outcome"] as? String == "complete")
        let removed = teardown["removed"] as? [String] ?? []
        #expect(removed.contains { $0.contains("unmounted") })
        #expect(removed.contains { $0.contains("deleted disk kiln-\(name)-") })
        #expect(removed.contains { $0.contains("restored the image's own copied files") })
        try await expectNothingLeft(name, emulator, dir)
        // The run state is cleared: the next plan starts from scratch.
        let plan = try await kiln(["plan", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(
            plan.stdout.contains("\(name)/create-disk[os]") || plan.stdout.contains("create-disk[os]"), "\(plan.stdout)"
        )
    }

    @Test func destroyAfterAConvergedApplyKeepsOutputsUnlessAsked() async throws {
        let name = "destroyconv"
        let dir = try scratch(name)
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"))

        let apply = try await kiln(["apply", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")

        // Not on a terminal and not approved: refused, nothing changes.
        let refused = try await kiln(["destroy", "--outputs", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("--auto-approve"))
        #expect(try await emulator.resources(ofType: Self.images).count == 1)

        let temporary = try await kiln(["destroy", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(temporary.status == 0, "\(temporary.stdout)\n\(temporary.stderr)")
        #expect(temporary.stdout.contains("Nothing to destroy"), "\(temporary.stdout)")
        #expect(temporary.stdout.contains("is an output; --outputs removes it"))
        #expect(try await emulator.resources(ofType: Self.images).count == 1)
        #expect(try await emulator.resources(ofType: Self.versions).count == 1)
        // The outputs are intact: nothing to do.
        let plan = try await kiln(["plan", "--detailed-exitcode", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(plan.status == 0, "\(plan.stdout)")

        let all = try await kiln(
            ["destroy", "--outputs", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(all.status == 0, "\(all.stdout)\n\(all.stderr)")
        #expect(all.stdout.contains("- \(name)/delete-image"), "\(all.stdout)")
        #expect(all.stdout.contains("Destroy complete: 2 removed."))
        try await expectNothingLeft(name, emulator, dir, outputs: true)
        let again = try await kiln(["plan", "--detailed-exitcode", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(again.status == 2, "\(again.stdout)")
    }

    @Test func destroyAfterAKilledApplyRemovesTheAttachedAndMountedDisk() async throws {
        let name = "destroykill"
        let dir = try scratch(name)
        try dir.edit(
            "manifests/scripts/setup.sh", replacing: "set -eu\n", with: "set -eu\necho kiln-test: sleeping\nsleep 300\n"
        )
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"))

        let apply = try BackgroundKiln(
            ["apply", "--auto-approve", "--emulator-endpoints", emulator.endpointsFile, "manifests/\(name).yaml"],
            in: dir.url)
        // The step's streamed output says its process runs in the chroot (so it can be found and stopped).
        let started = await apply.wait(for: "\(name)/provision[setup]: | kiln-test: sleeping")
        #expect(started, "\(apply.output)")
        // While apply runs, destroy is refused with the lock holder's details, like a second apply.
        let refused = try await kiln(["destroy", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("\(apply.pid)"), "\(refused.stderr)")
        apply.signal(SIGKILL)
        await apply.waitForExit()
        // The chroot's script outlives kiln (it is in its own process group, in kiln's
        // session): stop it so the root can be unmounted.
        await apply.stop()
        #expect(await !Leaks.mounts(under: dir.hostPaths.mountPath(name)).isEmpty)
        #expect(try await emulator.resources(ofType: Self.disks).count == 1)

        let destroy = try await kiln(["destroy", "--auto-approve", "manifests/\(name).yaml"], emulator, in: dir)
        #expect(destroy.status == 0, "\(destroy.stdout)\n\(destroy.stderr)")
        #expect(destroy.stdout.contains("\(name)/unmount"))
        #expect(destroy.stdout.contains("\(name)/detach[os]"))
        #expect(destroy.stdout.contains("Destroy complete: 3 removed."), "\(destroy.stdout)")
        try await expectNothingLeft(name, emulator, dir)
        // The journal's run state is gone: the next apply starts afresh.
        let journal = dir.read(".kiln/\(name).journal.json") ?? ""
        #expect(!journal.contains("provision[setup]"))
    }
}
