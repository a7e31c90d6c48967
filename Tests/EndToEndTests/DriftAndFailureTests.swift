import Foundation
import TestSupport
import Testing

/// An Azure operation that fails, then a resume; drift introduced behind Kiln's back, found
/// and repaired. The real `kiln` binary against `kiln emulator serve` with loop devices.
/// Builds are the quick start renamed (`e2e-fail`, `e2e-drift`: the quick start's own name
/// and mount path belong to `ApplyTheQuickstart`).
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct DriftAndFailure {
    /// The quick start under another build name (its image and definition renamed too).
    func renamedQuickstart(_ world: EmulatedWorld, _ name: String) throws -> String {
        let text = try #require(world.dir.read("manifests/quickstart.yaml"))
        let file = "manifests/\(name).yaml"
        try world.dir.write(file, text.replacingOccurrences(of: "quickstart", with: name))
        return file
    }

    /// An Azure operation Kiln waits for and Azure fails.
    struct FailedOperation: Sendable, CustomTestStringConvertible {
        var action: String
        var path: String
        /// The output the failed operation was making: not published.
        var output: Output
        enum Output: Sendable { case image, version }
        var resource: String
        var code: String
        var testDescription: String { action }
    }

    /// The gallery version's or the image's long-running operation ends `Failed`: apply
    /// exits non-zero naming the action, the resource, Azure's code, message and request id;
    /// once the fault is gone, apply resumes at the failed action (the disk is not created
    /// again, no step runs again, the failed resource is made once more, from the disk the
    /// first run kept) and converges.
    @Test(arguments: [
        FailedOperation(
            action: "e2e-fail/gallery-version", path: "*/versions/*", output: .version,
            resource: "images/e2e-fail/versions/1.0.0", code: "InternalOperationError"),
        FailedOperation(
            action: "e2e-fail/image", path: "*/Microsoft.Compute/images/*", output: .image,
            resource: "Compute/images/e2e-fail", code: "InternalOperationError")
    ])
    func anOperationAzureFailsThenApplyResumes(_ failure: FailedOperation) async throws {
        try await timed("anOperationAzureFailsThenApplyResumes(\(failure.action))") {
            let world = try await EmulatedWorld("kiln-e2e-fail")
            let manifest = try renamedQuickstart(world, "e2e-fail")
            try await world.emulator.setFaults(
                """
                [{"kind": "failOperation", "method": "PUT", "path": "\(failure.path)", "times": 1,
                  "code": "\(failure.code)", "message": "Emulated: Azure could not complete the operation."}]
                """)
            let failed = try await world.apply(manifest)
            let output = failed.stdout + failed.stderr
            #expect(failed.status != 0, "\(output)")
            let line =
                output.split(separator: "\n").first { $0.contains("✗ \(failure.action): failed") }.map(String.init)
                ?? ""
            #expect(line.contains(failure.resource), "\(output)")
            #expect(line.contains(failure.code), "\(output)")
            #expect(line.contains("Emulated: Azure could not complete the operation."), "\(output)")
            #expect(line.contains("x-ms-request-id"), "\(output)")
            // The failed output is not published (it is left Failed, or missing).
            let failedOutput =
                switch failure.output {
                case .image: try await world.get(world.id("images", "e2e-fail"), apiVersion: EmulatedWorld.computeAPI)
                case .version:
                    try await world.get(world.versionID("e2e-fail", "1.0.0"), apiVersion: EmulatedWorld.galleryAPI)
                }
            #expect((failedOutput["properties"] as? [String: Any])?["provisioningState"] as? String != "Succeeded")

            try await world.emulator.setFaults("[]")
            let before = try await world.lastRequest()
            let resumed = try await world.apply(manifest)
            #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
            let mutations = try await world.mutations(since: before)
            #expect(
                !mutations.contains { $0.hasPrefix("PUT ") && $0.contains("/disks/") },
                "the disk was created again: \(mutations)")
            #expect(
                mutations.filter { $0.hasPrefix("PUT ") && $0.contains(failure.resource) }.count == 1, "\(mutations)")
            #expect(!resumed.stdout.contains("provision[motd]: running"), "\(resumed.stdout)")
            #expect(!resumed.stdout.contains("provision[setup]: running"), "\(resumed.stdout)")
            try await world.expectPublished(
                image: world.id("images", "e2e-fail"), version: world.versionID("e2e-fail", "1.0.0"))
            #expect(try await world.read("/etc/kiln/role", in: world.versionID("e2e-fail", "1.0.0")) == "role=web\n")
            try await world.expectConverged(manifest, builds: ["e2e-fail"])
            await world.close(builds: ["e2e-fail"])
        }
    }

    /// After a converged apply, a region is dropped from the published version through ARM
    /// and the other's replica count raised: drift exits 2 naming both fields, apply repairs it in place (no disk, snapshot or image
    /// made), drift exits 0. Then the image is deleted: drift reports it, apply rebuilds it
    /// (and leaves the version alone).
    @Test func driftBehindKilnsBackIsDetectedAndRepaired() async throws {
        try await timed("driftBehindKilnsBackIsDetectedAndRepaired") {
            let world = try await EmulatedWorld("kiln-e2e-drift")
            let manifest = try renamedQuickstart(world, "e2e-drift")
            let first = try await world.apply(manifest)
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            let image = world.id("images", "e2e-drift")
            let version = world.versionID("e2e-drift", "1.0.0")
            try await world.expectPublished(image: image, version: version)
            let clean = try await world.kiln("drift", [manifest])
            #expect(clean.status == 0, "\(clean.stdout)\n\(clean.stderr)")

            // Drop westus2 from the version's target regions behind Kiln's back.
            let published = try await world.get(version, apiVersion: EmulatedWorld.galleryAPI)
            let regions =
                ((published["properties"] as? [String: Any])?["publishingProfile"] as? [String: Any])?["targetRegions"]
                as? [[String: Any]] ?? []
            var kept = regions.filter {
                ($0["name"] as? String)?.lowercased().replacingOccurrences(of: " ", with: "") != "westus2"
            }
            #expect(kept.count == 1, "\(regions)")
            // … and raise the replica count of the region left.
            for index in kept.indices { kept[index]["regionalReplicaCount"] = 3 }
            let patch = try JSONSerialization.data(withJSONObject: [
                "properties": ["publishingProfile": ["targetRegions": kept], "storageProfile": [String: Any]()]
            ])
            let patched = try await world.emulator.arm(
                "PATCH", version, apiVersion: EmulatedWorld.galleryAPI, body: String(decoding: patch, as: UTF8.self))
            #expect([200, 202].contains(patched.status), "\(patched.json)")
            #expect(
                try await world.emulator.waitForProvisioning(version, apiVersion: EmulatedWorld.galleryAPI)
                    == "Succeeded")

            let drift = try await world.kiln("drift", [manifest])
            #expect(drift.status == 2, "\(drift.stdout)\n\(drift.stderr)")
            #expect(
                drift.stdout.contains("gallery.targetRegions[westus2]: expected present, found missing"),
                "\(drift.stdout)")
            #expect(
                drift.stdout.contains("gallery.targetRegions[westus].replicas: expected 1, found 3"), "\(drift.stdout)")
            let before = try await world.lastRequest()
            let repair = try await world.apply(manifest)
            #expect(repair.status == 0, "\(repair.stdout)\n\(repair.stderr)")
            let repairs = try await world.mutations(since: before)
            #expect(
                repairs.contains { $0.contains("/versions/1.0.0") && ($0.hasPrefix("PATCH ") || $0.hasPrefix("PUT ")) },
                "\(repairs)")
            #expect(
                !repairs.contains {
                    $0.contains("/disks/") || $0.contains("/snapshots/") || $0.contains("Microsoft.Compute/images/")
                }, "rebuilt instead of repaired: \(repairs)")
            let repaired = try await world.kiln("drift", [manifest])
            #expect(repaired.status == 0, "\(repaired.stdout)\n\(repaired.stderr)")

            // Delete the managed image behind Kiln's back.
            let deleted = try await world.emulator.arm("DELETE", image, apiVersion: EmulatedWorld.computeAPI)
            #expect([200, 202, 204].contains(deleted.status))
            #expect(
                await waitUntil(timeout: .seconds(60)) {
                    (try? await world.emulator.arm("GET", image, apiVersion: EmulatedWorld.computeAPI).status) == 404
                })
            let gone = try await world.kiln("drift", [manifest])
            #expect(gone.status == 2, "\(gone.stdout)\n\(gone.stderr)")
            #expect(gone.stdout.contains("e2e-drift: image:"), "\(gone.stdout)")
            let beforeRebuild = try await world.lastRequest()
            let rebuild = try await world.apply(manifest)
            #expect(rebuild.status == 0, "\(rebuild.stdout)\n\(rebuild.stderr)")
            let rebuilt = try await world.mutations(since: beforeRebuild)
            #expect(
                rebuilt.contains { $0.hasPrefix("PUT ") && $0.contains("Microsoft.Compute/images/e2e-drift") },
                "\(rebuilt)")
            #expect(!rebuilt.contains { $0.contains("/versions/") }, "the version was touched: \(rebuilt)")
            // The version does not hold the provisioned disk: it is made and provisioned again,
            // and the new image has what the steps wrote (not the bare platform image).
            #expect(rebuild.stdout.contains("e2e-drift/provision[motd]: running"), "\(rebuild.stdout)")
            #expect(try await world.read("/etc/kiln/baked-by", in: image) == "baked by kiln for e2e-drift\n")
            try await world.expectPublished(image: image, version: version)
            let after = try await world.kiln("drift", [manifest])
            #expect(after.status == 0, "\(after.stdout)\n\(after.stderr)")
            try await world.expectConverged(manifest, builds: ["e2e-drift"])
            await world.close(builds: ["e2e-drift"])
        }
    }
}
