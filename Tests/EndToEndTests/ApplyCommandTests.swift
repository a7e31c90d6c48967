import Foundation
import TestSupport
import Testing

/// The main job: `kiln apply --emulator` builds the quick start for real (a platform image's
/// disk attached as a loop device, mounted, provisioned in a chroot, snapshotted, published),
/// then a second plan has nothing to do; and it resumes after SIGKILL.
@Suite(.serialized, .enabled(if: Privileges.isRoot, "needs root: attaches loop devices, mounts and chroots"))
struct ApplyTheQuickstart {
    @Test func applyBuildsAndPublishesThenThePlanIsEmpty() throws {
        let dir = try TemporaryDirectory("kiln-apply")
        defer { dir.remove() }
        try FileManager.default.copyItem(at: Repository.manifests, to: dir.url.appendingPathComponent("manifests"))
        let apply = try KilnBinary.run(["apply", "--emulator", "--auto-approve", "--artifact", "out.json", "manifests/quickstart.yaml"], in: dir.url)
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
        let artifact = try String(contentsOf: dir.url.appendingPathComponent("out.json"), encoding: .utf8)
        #expect(artifact.contains("images/quickstart"))
        #expect(artifact.contains("versions/1.0.0"))
        let plan = try KilnBinary.run(["plan", "--emulator", "--detailed-exitcode", "manifests/quickstart.yaml"], in: dir.url)
        #expect(plan.status == 0, "\(plan.stdout)\n\(plan.stderr)")
        #expect(plan.stdout == "No changes. The published images match the manifest.\n")
        let drift = try KilnBinary.run(["drift", "--emulator", "manifests/quickstart.yaml"], in: dir.url)
        #expect(drift.status == 0, "\(drift.stdout)")
        // Nothing left on the machine: no mount under the build's path, no loop device of ours.
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains("/mnt/kiln/quickstart"))
    }

    /// Killed with SIGKILL in the middle of provisioning, `kiln apply` run again adopts what
    /// exists, re-runs only what had not finished, and ends as an uninterrupted run does.
    /// (In the same serialized suite: both builds mount at /mnt/kiln/quickstart.)
    @Test func aKilledApplyResumesWithoutRedoingFinishedWork() throws {
        let dir = try TemporaryDirectory("kiln-resume")
        defer { dir.remove() }
        try FileManager.default.copyItem(at: Repository.manifests, to: dir.url.appendingPathComponent("manifests"))
        // Make the second step slow enough to be killed in the middle of it.
        let script = dir.url.appendingPathComponent("manifests/scripts/setup.sh")
        let original = try String(contentsOf: script, encoding: .utf8)
        try original.replacingOccurrences(of: "set -eu\n", with: "set -eu\nsleep 8\n").write(to: script, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = KilnBinary.url
        process.arguments = ["apply", "--emulator", "--auto-approve", "manifests/quickstart.yaml"]
        process.currentDirectoryURL = dir.url
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let journal = dir.url.appendingPathComponent(".kiln/quickstart.journal.json")
        let deadline = Date().addingTimeInterval(120)
        var sawSetupStart = false
        while Date() < deadline, process.isRunning {
            let text = (try? String(contentsOf: journal, encoding: .utf8)) ?? ""
            if text.contains("quickstart\\/provision[setup]") { sawSetupStart = true; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(sawSetupStart)

        // The same inputs (the slow script included): the resumed run keeps the killed run's names.
        let resumed = try KilnBinary.run(["apply", "--emulator", "--auto-approve", "manifests/quickstart.yaml"], in: dir.url)
        #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
        // Finished work is not redone: the disk is not created again, motd does not run again.
        #expect(!resumed.stdout.contains("quickstart/create-disk[os]: creating"))
        #expect(!resumed.stdout.contains("quickstart/provision[motd]: running"))
        #expect(resumed.stdout.contains("quickstart/provision[setup]: running"))
        let plan = try KilnBinary.run(["plan", "--emulator", "--detailed-exitcode", "manifests/quickstart.yaml"], in: dir.url)
        #expect(plan.status == 0, "\(plan.stdout)")
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains("/mnt/kiln/quickstart"))
    }

    @Test func aSecondApplyOnTheSameBuildIsRefusedWithTheHolder() throws {
        let dir = try TemporaryDirectory("kiln-lock")
        defer { dir.remove() }
        try FileManager.default.copyItem(at: Repository.manifests, to: dir.url.appendingPathComponent("manifests"))
        let script = dir.url.appendingPathComponent("manifests/scripts/setup.sh")
        let original = try String(contentsOf: script, encoding: .utf8)
        try original.replacingOccurrences(of: "set -eu\n", with: "set -eu\nsleep 6\n").write(to: script, atomically: true, encoding: .utf8)
        let first = Process()
        first.executableURL = KilnBinary.url
        first.arguments = ["apply", "--emulator", "--auto-approve", "manifests/quickstart.yaml"]
        first.currentDirectoryURL = dir.url
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) }; first.waitUntilExit() }
        let lock = dir.url.appendingPathComponent(".kiln/quickstart.lock")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? String(contentsOf: lock, encoding: .utf8))?.contains("\(first.processIdentifier)") != true {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let second = try KilnBinary.run(["apply", "--emulator-endpoints", "/nonexistent/endpoints.json", "--auto-approve", "manifests/quickstart.yaml"], in: dir.url)
        #expect(second.status == 1)
        #expect(second.stderr.contains("\(first.processIdentifier)"), "\(second.stderr)")
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains("/mnt/kiln/quickstart"))
    }
}
