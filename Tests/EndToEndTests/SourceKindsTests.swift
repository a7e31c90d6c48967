import Foundation
import TestSupport
import Testing

/// Every source kind, data disks and two builds in one manifest, built for real: the real
/// `kiln` binary against `kiln emulator serve` with loop devices, real mounts and chroots.
/// Each test applies one example, checks the outputs carry Kiln's digest tag and hold what
/// the steps wrote, that a second plan has nothing to do and that nothing is left behind.
/// Serialized: each loads the machine heavily.
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct SourceKinds {
    /// `source.disk`: a copy of a managed disk (created here through ARM from a platform
    /// image), grown, mounted at partition 1, an uploaded file; a managed image only.
    @Test func fromAManagedDisk() async throws {
        try await timed("fromAManagedDisk") {
            let world = try await EmulatedWorld("kiln-e2e-disk")
            let golden = world.id("disks", "golden-os")
            let platform =
                "/Subscriptions/\(world.emulator.subscriptionID)/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/server/Versions/24.04.202502010"
            let created = try await world.emulator.arm(
                "PUT", golden, apiVersion: EmulatedWorld.diskAPI,
                body: """
                    {"location": "westus", "sku": {"name": "Premium_LRS"}, "properties": {"hyperVGeneration": "V2",
                     "creationData": {"createOption": "FromImage", "imageReference": {"id": "\(platform)"}}}}
                    """)
            #expect([200, 201, 202].contains(created.status), "\(created.json)")
            #expect(
                try await world.emulator.waitForProvisioning(golden, apiVersion: EmulatedWorld.diskAPI) == "Succeeded")

            let apply = try await world.apply("manifests/from-managed-disk.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let image = world.id("images", "from-disk")
            try await world.expectPublished(image: image)
            let motd = try String(
                contentsOf: world.dir.url.appendingPathComponent("manifests/files/motd"), encoding: .utf8)
            #expect(try await world.read("/etc/motd", in: image) == motd)
            // The source is the user's: copied, never changed or deleted.
            #expect(try await world.get(golden, apiVersion: EmulatedWorld.diskAPI)["managedBy"] as? String == nil)
            try await world.expectConverged(
                "manifests/from-managed-disk.yaml", builds: ["from-disk"], keeping: [golden.lowercased()])
            #expect(
                try await world.emulator.resources(ofType: "Microsoft.Compute/disks").map { $0.lowercased() } == [
                    golden.lowercased()
                ])
            await world.close(builds: ["from-disk"])
        }
    }

    /// `source.galleryImageVersion`: a version published first by another build (with a file
    /// in the OS disk and a data disk), then layered: the next layer's step sees the file in
    /// its chroot, and its version holds both layers and the data disk copied through.
    @Test func fromAGalleryVersion() async throws {
        try await timed("fromAGalleryVersion") {
            let world = try await EmulatedWorld("kiln-e2e-layered")
            try world.dir.write(
                "manifests/layered-base.yaml",
                """
                builds:
                  - name: layered-base
                    source:
                      platformImage: Canonical:ubuntu-24_04-lts:server:latest
                    disk:
                      dataDisks:
                        - lun: 0
                          sizeGB: 1
                          mountPath: /var/lib/base
                    mount:
                      preMountCommands:
                        - mkfs.ext4 -q -F "$KILN_DATA_DEVICE_0"
                    provision:
                      - shell:
                          - mkdir -p /etc/kiln
                          - echo base > /etc/kiln/layers
                          - echo base-data > /var/lib/base/marker
                    outputs:
                      gallery:
                        resourceGroup: '{{vm "resource_group"}}'
                        gallery: kiln_gallery
                        imageDefinition: layered-base
                        version: 1.0.0
                        targetRegions:
                          - '{{vm "location"}}'
                """)
            let base = try await world.apply("manifests/layered-base.yaml")
            #expect(base.status == 0, "\(base.stdout)\n\(base.stderr)")
            let baseVersion = world.versionID("layered-base", "1.0.0")
            try await world.expectPublished(image: nil, version: baseVersion)

            try world.dir.edit(
                "manifests/from-gallery-version.yaml", replacing: "images/quickstart/versions/1.0.0",
                with: "images/layered-base/versions/1.0.0")
            // The step fails unless the base layer's file is in this layer's chroot.
            try world.dir.edit(
                "manifests/from-gallery-version.yaml", replacing: "          - echo layered >> /etc/kiln/layers",
                with: "          - grep -qx base /etc/kiln/layers\n          - echo layered >> /etc/kiln/layers")
            let apply = try await world.apply("manifests/from-gallery-version.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let version = world.versionID("layered", "1.1.0")
            try await world.expectPublished(image: nil, version: version)
            #expect(try await world.read("/etc/kiln/layers", in: version) == "base\nlayered\n")
            #expect(try await world.read("/marker", in: version, blob: 1, partition: nil) == "base-data\n")
            let properties =
                try await world.get(version, apiVersion: EmulatedWorld.galleryAPI)["properties"] as? [String: Any]
            let publishing = properties?["publishingProfile"] as? [String: Any]
            #expect(publishing?["endOfLifeDate"] as? String != nil)
            #expect(publishing?["excludeFromLatest"] as? Bool == false)
            try await world.expectConverged("manifests/from-gallery-version.yaml", builds: ["layered"])
            let drift = try await world.kiln("drift", ["manifests/from-gallery-version.yaml"])
            #expect(drift.status == 0, "\(drift.stdout)\n\(drift.stderr)")
            // The base is untouched by the layer built on it.
            let plan = try await world.kiln("plan", ["--detailed-exitcode", "manifests/layered-base.yaml"])
            #expect(plan.status == 0, "\(plan.stdout)\n\(plan.stderr)")
            await world.close(builds: ["layered-base", "layered"])
        }
    }

    /// `source.scratch`: an empty disk partitioned and formatted by pre-mount commands, a
    /// root laid down from the host's busybox, a step run in it.
    @Test func fromScratch() async throws {
        try await timed("fromScratch") {
            let world = try await EmulatedWorld("kiln-e2e-scratch")
            let apply = try await world.apply("manifests/from-scratch.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let image = world.id("images", "scratch")
            try await world.expectPublished(image: image)
            #expect(try await world.read("/etc/hostname", in: image) == "scratch\n")
            try await world.expectConverged("manifests/from-scratch.yaml", builds: ["scratch"])
            await world.close(builds: ["scratch"])
        }
    }

    /// Two empty data disks attached with the OS disk, one formatted and mounted where the
    /// manifest says while provisioning, both captured straight into the image and the version
    /// (three regions).
    @Test func withDataDisks() async throws {
        try await timed("withDataDisks") {
            let world = try await EmulatedWorld("kiln-e2e-data")
            let apply = try await world.apply("manifests/data-disks.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let image = world.id("images", "with-data")
            let version = world.versionID("with-data", "1.0.0")
            try await world.expectPublished(image: image, version: version)

            let imageDisks =
                ((try await world.get(image, apiVersion: EmulatedWorld.computeAPI)["properties"] as? [String: Any])?[
                    "storageProfile"] as? [String: Any])?["dataDisks"] as? [[String: Any]] ?? []
            #expect(imageDisks.compactMap { $0["lun"] as? Int }.sorted() == [0, 1])
            let properties =
                try await world.get(version, apiVersion: EmulatedWorld.galleryAPI)["properties"] as? [String: Any]
            let versionDisks =
                (properties?["storageProfile"] as? [String: Any])?["dataDiskImages"] as? [[String: Any]] ?? []
            #expect(versionDisks.compactMap { $0["lun"] as? Int }.sorted() == [0, 1])
            let regions =
                ((properties?["publishingProfile"] as? [String: Any])?["targetRegions"] as? [[String: Any]] ?? [])
                .compactMap { $0["name"] as? String }
            #expect(regions.count == 3, "\(regions)")

            // The step wrote through the mount at /var/lib/data: the file is on data disk 0.
            let blobs = try await world.emulator.blobFiles(of: image)
            #expect(blobs.count == 3)
            var lun0: URL?
            for blob in blobs where lun0 == nil {
                if try await DiskImage.read("/marker", in: blob) != nil { lun0 = blob }
            }
            #expect(lun0 != nil, "no data disk of the image holds /marker")
            if let lun0 { #expect(try await DiskImage.read("/marker", in: lun0) == "data\n") }
            try await world.expectConverged("manifests/data-disks.yaml", builds: ["with-data"])
            let drift = try await world.kiln("drift", ["manifests/data-disks.yaml"])
            #expect(drift.status == 0, "\(drift.stdout)\n\(drift.stderr)")
            await world.close(builds: ["with-data"])
        }
    }

    /// Two builds of one manifest run side by side: both disks are created before either
    /// image, and each image holds its own build's file.
    @Test func twoBuildsSideBySide() async throws {
        try await timed("twoBuildsSideBySide") {
            let world = try await EmulatedWorld("kiln-e2e-two")
            let apply = try await world.apply("manifests/two-builds.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let web = world.id("images", "web")
            let worker = world.id("images", "worker")
            try await world.expectPublished(image: web)
            try await world.expectPublished(image: worker)
            #expect(try await world.read("/etc/role", in: web) == "web\n")
            #expect(try await world.read("/etc/role", in: worker) == "worker\n")

            let puts = try await world.mutations(since: 0).filter { $0.hasPrefix("PUT ") }
            let diskPuts = puts.indices.filter {
                puts[$0].contains("/disks/kiln-web-") || puts[$0].contains("/disks/kiln-worker-")
            }
            let firstImage = puts.firstIndex { $0.contains("Microsoft.Compute/images/") }
            #expect(diskPuts.count == 2, "\(puts)")
            if let firstImage, let lastDisk = diskPuts.max() {
                #expect(lastDisk < firstImage, "not side by side: \(puts)")
            }
            try await world.expectConverged("manifests/two-builds.yaml", builds: ["web", "worker"])
            await world.close(builds: ["web", "worker"])
        }
    }
}
