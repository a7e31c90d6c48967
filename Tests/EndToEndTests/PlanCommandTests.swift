import Foundation
import TestSupport
import Testing

/// `kiln plan`, `drift` and `graph` against the embedded emulator (`--emulator`), run as a
/// user runs them, in a scratch copy of the examples (removed when each test ends) so state
/// stays out of the repository.
@Suite(.serialized, .endToEnd) struct PlanAgainstTheEmulator {
    func scratch() throws -> TemporaryDirectory { try manifestScratch("kiln-plan") }

    @Test func aFreshManifestPlansTheWholeBuildAndExitsTwoWithDetailedExitCode() async throws {
        let dir = try scratch()
        let r = try await KilnBinary.run(
            ["plan", "--emulator", "--detailed-exitcode", "manifests/quickstart.yaml"], in: dir.url)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stdout.contains("+   create-disk[os]"))
        #expect(r.stdout.contains("*   provision[setup]"))
        #expect(r.stdout.contains("<=  replicate[westus2]"))
        #expect(r.stdout.contains("+   gallery-definition"))
        #expect(r.stdout.hasSuffix("Plan: 4 to add, 0 to change, 1 to destroy, 12 to run, 3 to wait for.\n"))
        // The emulator's state persists under the state directory; no device is left behind.
        #expect(
            FileManager.default.fileExists(atPath: dir.url.appendingPathComponent(".kiln/emulator/endpoints.json").path)
        )
    }

    /// The fleet example with remote state in the embedded emulator's Blob storage: plan reads
    /// the (empty) remote journals, status shows every build pending, and nothing is written
    /// to the local state directory's journals.
    @Test func theFleetExamplePlansAndReportsItsStatusFromRemoteState() async throws {
        let dir = try scratch()
        let plan = try await KilnBinary.run(
            ["plan", "--emulator", "--detailed-exitcode", "manifests/fleet.yaml"], in: dir.url)
        #expect(plan.status == 2, "\(plan.stdout)\n\(plan.stderr)")
        #expect(plan.stdout.contains("# fleet-web (digest") && plan.stdout.contains("# fleet-worker (digest"))
        let status = try await KilnBinary.run(["status", "--emulator", "manifests/fleet.yaml"], in: dir.url)
        #expect(status.status == 0, "\(status.stderr)")
        let lines = status.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("BUILD") == true)
        #expect(lines.filter { $0.contains(" pending ") }.count == 2, "\(status.stdout)")
        let local = try FileManager.default.contentsOfDirectory(atPath: dir.url.appendingPathComponent(".kiln").path)
        #expect(!local.contains { $0.hasSuffix(".journal.json") }, "\(local)")
    }

    @Test func jsonAndSavedPlansCarryEveryAction() async throws {
        let dir = try scratch()
        let r = try await KilnBinary.run(
            ["plan", "--emulator", "--json", "--out", "saved.json", "manifests/two-builds.yaml"], in: dir.url)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let plan = try #require(object["plan"] as? [String: Any])
        #expect((plan["builds"] as? [[String: Any]])?.count == 2)
        let saved = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("saved.json")))
                as? [String: Any])
        #expect(saved["format_version"] as? Int == 1)
        #expect(saved["manifest"] as? String == "manifests/two-builds.yaml")
        #expect((saved["fingerprint"] as? String)?.hasPrefix("sha256:") == true)
        #expect(NSDictionary(dictionary: try #require(saved["plan"] as? [String: Any])).isEqual(to: plan))
        let mode =
            try FileManager.default.attributesOfItem(atPath: dir.url.appendingPathComponent("saved.json").path)[
                .posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aMissingSourceIsAConflictWithItsFix() async throws {
        let dir = try scratch()
        let r = try await KilnBinary.run(["plan", "--emulator", "manifests/from-managed-disk.yaml"], in: dir.url)
        #expect(r.status == 1)
        #expect(r.stdout.contains("! from-disk: the source disk golden-os does not exist"))
        #expect(r.stdout.contains("fix: create it, or point source.disk at one that exists"))
    }

    @Test func driftReportsUnpublishedOutputsPerField() async throws {
        let dir = try scratch()
        let r = try await KilnBinary.run(["drift", "--emulator", "manifests/quickstart.yaml"], in: dir.url)
        #expect(r.status == 2)
        #expect(r.stdout.contains("~ quickstart: image: expected exists, found deleted or never published"))
        #expect(r.stdout.contains("~ quickstart: gallery.version: expected 1.0.0, found deleted or never published"))
    }

    @Test func graphPrintsDOT() async throws {
        let dir = try scratch()
        let r = try await KilnBinary.run(["graph", "--emulator", "manifests/two-builds.yaml"], in: dir.url)
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("digraph kiln {"))
        #expect(r.stdout.contains("\"worker/create-disk[os]\" -> \"worker/attach[os]\";"))
    }

    @Test(.enabled(if: Privileges.isRoot, "needs root: mounts a tmpfs"))
    func aForeignMountAtTheMountPathIsNotTakenForProgress() async throws {
        let dir = try scratch()
        let mountPoint = dir.url.appendingPathComponent("root").path
        let manifest = dir.url.appendingPathComponent("manifests/quickstart.yaml")
        let text = try String(contentsOf: manifest, encoding: .utf8)
            .replacingOccurrences(
                of: "    provision:\n", with: "    mount:\n      path: \(mountPoint)\n    provision:\n", options: [],
                range: nil)
        try text.write(to: manifest, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try await runProcess(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "tmpfs", mountPoint])
        #expect(mounted.status == 0)
        try TestScope.onExit(.mounts) { _ = try? await runProcess(URL(fileURLWithPath: "/bin/umount"), [mountPoint]) }
        let r = try await KilnBinary.run(["plan", "--emulator", "manifests/quickstart.yaml"], in: dir.url)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("*   mount "))
        #expect(r.stdout.hasSuffix("Plan: 4 to add, 0 to change, 1 to destroy, 12 to run, 3 to wait for.\n"))
    }

    @Test func noAzureVMSaysSo() async throws {
        let dir = try scratch()
        try dir.write(
            "endpoints.json",
            """
            {"arm":"http://127.0.0.1:9","login":"http://127.0.0.1:9","imds":"http://127.0.0.1:9","deviceRoot":"/tmp",
             "credential":{"tenantId":"t","clientId":"c","clientSecret":"s"}}
            """)
        let r = try await KilnBinary.run(
            ["plan", "--emulator-endpoints", "endpoints.json", "manifests/quickstart.yaml"], in: dir.url)
        #expect(r.status == 1)
        #expect(r.stderr.contains("this needs an Azure VM, or --emulator"))
    }
}
