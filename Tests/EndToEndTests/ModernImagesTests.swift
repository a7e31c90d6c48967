import Foundation
import TestSupport
import Testing

/// Images people ship now (issue 15), built for real on the emulator: a Trusted Launch
/// gallery image with its definition's settings, an automatic version, shallow replication
/// and disk encryption sets; then the definition updated in place, a change Azure refuses
/// shown as a conflict, and the next automatic version.
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct ModernImages {
    static func manifest(description: String, publisher: String = "contoso", step: String = "echo one") -> String {
        """
        builds:
          - name: modern
            source: {platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}
            disk:
              diskEncryptionSetId: /subscriptions/{{vm "subscription_id"}}/resourceGroups/kiln-rg/providers/Microsoft.Compute/diskEncryptionSets/des
            provision:
              - name: mark
                shell: [mkdir -p /etc/kiln, '\(step) > /etc/kiln/modern']
            temporary: {keep: true}
            outputs:
              gallery:
                resourceGroup: kiln-rg
                gallery: kiln_gallery
                imageDefinition: modern
                version: auto
                replicationMode: Shallow
                targetRegions:
                  - name: westus
                    excludeFromLatest: false
                    diskEncryptionSetId: /subscriptions/{{vm "subscription_id"}}/resourceGroups/kiln-rg/providers/Microsoft.Compute/diskEncryptionSets/des
                definition:
                  publisher: \(publisher)
                  offer: web
                  sku: modern
                  description: \(description)
                  recommended: {vCPUs: {min: 2, max: 8}}
                  features: {diskControllerTypes: [SCSI, NVMe], acceleratedNetworking: true}
        """
    }

    @Test func aTrustedLaunchGalleryImageWithItsDefinitionAndTheNextAutomaticVersion() async throws {
        try await timed("modernImages") {
            // The set exists before Kiln runs (a preset: Kiln only names it; creating one is
            // outside the API subset the tests are held to).
            let world = try await EmulatedWorld(
                "kiln-e2e-modern", configJSON: #"{"diskEncryptionSets": ["kiln-rg/des"]}"#)
            let set = world.id("diskEncryptionSets", "des")
            try world.dir.write("manifests/modern.yaml", Self.manifest(description: "The web tier"))

            let plan = try await world.kiln("plan", ["manifests/modern.yaml"])
            #expect(plan.stdout.contains("# images: TrustedLaunch ("), "\(plan.stdout)")
            #expect(plan.stdout.contains("# version: auto chose 1.0.0 (the image definition has no version yet)"))
            let apply = try await world.apply("manifests/modern.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")

            let definition = try await world.get(
                world.id("galleries", "kiln_gallery/images/modern"), apiVersion: EmulatedWorld.galleryAPI)
            let p = definition["properties"] as? [String: Any] ?? [:]
            let features = Dictionary(
                (p["features"] as? [[String: String]] ?? []).map { ($0["name"] ?? "", $0["value"] ?? "") },
                uniquingKeysWith: { a, _ in a })
            #expect(features["SecurityType"] == "TrustedLaunchSupported", "\(features)")
            #expect(features["DiskControllerTypes"] == "SCSI, NVMe")
            #expect(features["IsAcceleratedNetworkSupported"] == "True")
            #expect((p["identifier"] as? [String: String])?["publisher"] == "contoso")
            #expect(p["architecture"] as? String == "x64")
            #expect(p["description"] as? String == "The web tier")

            let version = world.versionID("modern", "1.0.0")
            try await world.expectPublished(image: nil, version: version)
            #expect(try await world.read("/etc/kiln/modern", in: version) == "one\n")
            let profile =
                (try await world.get(version, apiVersion: EmulatedWorld.galleryAPI)["properties"] as? [String: Any])?[
                    "publishingProfile"] as? [String: Any] ?? [:]
            #expect(profile["replicationMode"] as? String == "Shallow")
            let region = (profile["targetRegions"] as? [[String: Any]])?.first
            #expect(
                ((region?["encryption"] as? [String: Any])?["osDiskImage"] as? [String: Any])?["diskEncryptionSetId"]
                    as? String == set)
            // The kept temporary OS disk: encrypted with the set, standard (a version of it
            // goes into a TrustedLaunchSupported definition only so).
            let disks = try await world.emulator.resources(ofType: "Microsoft.Compute/disks")
            let os = try #require(disks.first { $0.hasSuffix("-os") })
            let disk = try await world.get(os, apiVersion: EmulatedWorld.diskAPI)["properties"] as? [String: Any]
            #expect((disk?["encryption"] as? [String: Any])?["diskEncryptionSetId"] as? String == set)
            #expect(disk?["securityProfile"] == nil)
            try await world.expectConverged(
                "manifests/modern.yaml", builds: ["modern"], keeping: Set(disks.map { $0.lowercased() }))

            // What Azure changes in place is updated (`~`), and no version is published.
            try world.dir.write("manifests/modern.yaml", Self.manifest(description: "The web tier, hardened"))
            let update = try await world.kiln("plan", ["manifests/modern.yaml"])
            #expect(update.stdout.contains("~   gallery-definition"), "\(update.stdout)")
            #expect(update.stdout.contains("description The web tier → The web tier, hardened"))
            let before = try await world.lastRequest()
            #expect(try await world.apply("manifests/modern.yaml").status == 0)
            let definitionPath = world.id("galleries", "kiln_gallery/images/modern")
            #expect(try await world.mutations(since: before) == ["PUT \(definitionPath)"])

            // What Azure refuses to change is a conflict naming the property.
            try world.dir.write(
                "manifests/modern.yaml", Self.manifest(description: "The web tier, hardened", publisher: "fabrikam"))
            let refused = try await world.kiln("plan", ["--detailed-exitcode", "manifests/modern.yaml"])
            #expect(refused.status == 1, "\(refused.stdout)\n\(refused.stderr)")
            #expect(refused.stdout.contains("identifier.publisher contoso → fabrikam"), "\(refused.stdout)")

            // A changed build gets the next patch version; 1.0.0 stays as it was.
            try world.dir.write(
                "manifests/modern.yaml", Self.manifest(description: "The web tier, hardened", step: "echo two"))
            let next = try await world.apply("manifests/modern.yaml")
            #expect(next.status == 0, "\(next.stdout)\n\(next.stderr)")
            #expect(next.stdout.contains("versions/1.0.1"), "\(next.stdout)")
            #expect(try await world.read("/etc/kiln/modern", in: world.versionID("modern", "1.0.1")) == "two\n")
            #expect(try await world.read("/etc/kiln/modern", in: version) == "one\n")
            let again = try await world.kiln("plan", ["--detailed-exitcode", "manifests/modern.yaml"])
            #expect(again.status == 0, "\(again.stdout)")

            // A layer on the definition's latest version takes 1.0.1, named in the plan.
            try world.dir.write(
                "manifests/layer.yaml",
                """
                builds:
                  - name: layer
                    source: {galleryImageVersion: '\(world.id("galleries", "kiln_gallery/images/modern/versions/latest"))'}
                    provision:
                      - name: copy
                        shell: ['cp /etc/kiln/modern /etc/kiln/layer']
                    outputs:
                      gallery: {resourceGroup: kiln-rg, gallery: kiln_gallery, imageDefinition: layer, version: 1.0.0, targetRegions: [westus]}
                """)
            let layer = try await world.apply("manifests/layer.yaml")
            #expect(layer.status == 0, "\(layer.stdout)\n\(layer.stderr)")
            #expect(layer.stdout.contains("# source: modern's latest version is 1.0.1"), "\(layer.stdout)")
            #expect(try await world.read("/etc/kiln/layer", in: world.versionID("layer", "1.0.0")) == "two\n")
            await world.close(builds: ["modern", "layer"])
        }
    }

    /// An Arm64 image on this x86-64 VM: its step runs aarch64 programs under
    /// qemu-user-static (Kiln registers the interpreter for the build and removes it after),
    /// and the definition says Arm64. `mount.emulation: off` refuses the build instead.
    @Test(.enabled(if: Arm64Emulation.available, Arm64Emulation.why))
    func anArm64ImageIsProvisionedUnderEmulation() async throws {
        try await timed("arm64") {
            let world = try await EmulatedWorld("kiln-e2e-arm64")
            // The example manifest, as shipped; and a copy that turns emulation off.
            let example = try String(
                contentsOf: world.dir.url.appendingPathComponent("manifests/arm64.yaml"), encoding: .utf8)
            try world.dir.write(
                "manifests/arm64-off.yaml", example.replacingOccurrences(of: "emulation: auto", with: "emulation: off"))
            let refused = try await world.kiln("plan", ["--detailed-exitcode", "manifests/arm64-off.yaml"])
            #expect(refused.status == 1 && refused.stdout.contains("mount.emulation is off"), "\(refused.stdout)")

            let apply = try await world.apply("manifests/arm64.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            #expect(apply.stdout.contains("Arm64 (provisioned under qemu-user-static emulation)"))
            let version = world.versionID("arm", "1.0.0")
            #expect(try await world.read("/etc/kiln-arch", in: version) == "aarch64\n")
            let definition = try await world.get(
                world.id("galleries", "kiln_gallery/images/arm"), apiVersion: EmulatedWorld.galleryAPI)
            #expect((definition["properties"] as? [String: Any])?["architecture"] as? String == "Arm64")
            #expect(try await Arm64Emulation.kilnEntries().isEmpty, "the build's binfmt_misc entry must go")
            try await world.expectConverged("manifests/arm64.yaml", builds: ["arm"])
            await world.close(builds: ["arm"])
        }
    }

    /// A managed image encrypted with a disk encryption set: Standard (a managed image
    /// cannot boot Trusted Launch), its disks name the set.
    @Test func aManagedImageEncryptedWithACustomerKey() async throws {
        let world = try await EmulatedWorld(
            "kiln-e2e-des-image", configJSON: #"{"diskEncryptionSets": ["kiln-rg/imagekey"]}"#)
        let set = world.id("diskEncryptionSets", "imagekey")
        try world.dir.write(
            "manifests/des-image.yaml",
            """
            builds:
              - name: desimage
                source: {platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}
                outputs:
                  image: {id: '\(world.id("images", "encrypted"))', diskEncryptionSetId: '\(set)'}
            """)
        let apply = try await world.apply("manifests/des-image.yaml")
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
        #expect(apply.stdout.contains("# images: Standard (a managed image is published"), "\(apply.stdout)")
        let image = try await world.get(world.id("images", "encrypted"), apiVersion: EmulatedWorld.computeAPI)
        let storage = (image["properties"] as? [String: Any])?["storageProfile"] as? [String: Any]
        let os = storage?["osDisk"] as? [String: Any]
        #expect((os?["diskEncryptionSet"] as? [String: Any])?["id"] as? String == set, "\(image)")
        try await world.expectConverged("manifests/des-image.yaml", builds: ["desimage"])
        await world.close(builds: ["desimage"])
    }

    /// A security type a managed image cannot boot is refused before anything is made.
    @Test func trustedLaunchWithAManagedImageIsAConflict() async throws {
        let world = try await EmulatedWorld("kiln-e2e-tl-image")
        try world.dir.write(
            "manifests/tl-image.yaml",
            """
            builds:
              - name: tlimage
                source: {platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}
                disk: {securityType: TrustedLaunch}
                outputs:
                  image: {id: '/subscriptions/{{vm "subscription_id"}}/resourceGroups/kiln-rg/providers/Microsoft.Compute/images/tl'}
            """)
        let before = try await world.lastRequest()
        let apply = try await world.apply("manifests/tl-image.yaml")
        #expect(apply.status != 0)
        #expect(
            apply.stdout.contains("a managed image cannot boot TrustedLaunch VMs"), "\(apply.stdout)\n\(apply.stderr)")
        #expect(try await world.mutations(since: before).isEmpty)
        await world.close(builds: ["tlimage"])
    }
}

/// What the Arm64 test needs on this machine, and what Kiln left in `binfmt_misc`.
enum Arm64Emulation {
    static let busybox = "/usr/local/lib/kiln/arm64/busybox"
    static let qemu = "/usr/bin/qemu-aarch64-static"
    static var available: Bool {
        Privileges.isRoot && FileManager.default.isExecutableFile(atPath: qemu)
            && FileManager.default.fileExists(atPath: busybox)
    }
    static let why: Comment = "needs root, \(qemu) and \(busybox) (make deps installs both)"

    /// The `binfmt_misc` entries named `kiln-…`, read through a mount of its own.
    static func kilnEntries() async throws -> [String] {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let list = try await runProcess(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "mount -t binfmt_misc binfmt_misc \(dir.url.path) && ls \(dir.url.path); umount \(dir.url.path)"])
        return list.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("kiln-") }
    }
}
