import Foundation
import TestSupport
import Testing

/// Every source kind, data disks and two builds in one manifest, built for real: the real
/// `kiln` binary against `kiln emulator serve` with loop devices, real mounts and chroots.
/// Each test applies one example, checks the outputs carry Kiln's digest tag and hold what
/// the steps wrote, that a second plan has nothing to do and that nothing is left behind.
/// Serialized: the builds of one example mount at the same /mnt/kiln/<build> path.
@Suite(.serialized, .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct SourceKinds {
    /// `source.disk`: a copy of a managed disk (created here through ARM from a platform
    /// image), grown, mounted at partition 1, an uploaded file; a managed image only.
    @Test func fromAManagedDisk() throws {
        try timed("fromAManagedDisk") {
            let world = try EmulatedWorld("kiln-e2e-disk")
            defer { world.close(builds: ["from-disk"]) }
            let golden = world.id("disks", "golden-os")
            let platform = "/Subscriptions/\(world.emulator.subscriptionID)/Providers/Microsoft.Compute/Locations/westus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/server/Versions/24.04.202502010"
            let created = try world.emulator.arm("PUT", golden, apiVersion: EmulatedWorld.diskAPI, body: """
                {"location": "westus", "sku": {"name": "Premium_LRS"}, "properties": {"hyperVGeneration": "V2",
                 "creationData": {"createOption": "FromImage", "imageReference": {"id": "\(platform)"}}}}
                """)
            #expect([200, 201, 202].contains(created.status), "\(created.json)")
            #expect(try world.emulator.waitForProvisioning(golden, apiVersion: EmulatedWorld.diskAPI) == "Succeeded")

            let apply = try world.apply("manifests/from-managed-disk.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let image = world.id("images", "from-disk")
            try world.expectPublished(image: image)
            let motd = try String(contentsOf: world.dir.url.appendingPathComponent("manifests/files/motd"), encoding: .utf8)
            #expect(try world.read("/etc/motd", in: image) == motd)
            // The source is the user's: copied, never changed or deleted.
            #expect(try world.get(golden, apiVersion: EmulatedWorld.diskAPI)["managedBy"] as? String == nil)
            try world.expectConverged("manifests/from-managed-disk.yaml", builds: ["from-disk"], keeping: [golden.lowercased()])
            #expect(try world.emulator.resources(ofType: "Microsoft.Compute/disks").map { $0.lowercased() } == [golden.lowercased()])
        }
    }

    /// `source.galleryImageVersion`: a version published first by another build (with a file
    /// in the OS disk and a data disk), then layered: the next layer's step sees the file in
    /// its chroot, and its version holds both layers and the data disk copied through.
    @Test func fromAGalleryVersion() throws {
        try timed("fromAGalleryVersion") {
            let world = try EmulatedWorld("kiln-e2e-layered")
            defer { world.close(builds: ["layered-base", "layered"]) }
            try world.dir.write("manifests/layered-base.yaml", """
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
            let base = try world.apply("manifests/layered-base.yaml")
            #expect(base.status == 0, "\(base.stdout)\n\(base.stderr)")
            let baseVersion = world.versionID("layered-base", "1.0.0")
            try world.expectPublished(image: nil, version: baseVersion)

            try world.dir.edit("manifests/from-gallery-version.yaml", replacing: "images/quickstart/versions/1.0.0", with: "images/layered-base/versions/1.0.0")
            // The step fails unless the base layer's file is in this layer's chroot.
            try world.dir.edit("manifests/from-gallery-version.yaml", replacing: "          - echo layered >> /etc/kiln/layers",
                               with: "          - grep -qx base /etc/kiln/layers\n          - echo layered >> /etc/kiln/layers")
            let apply = try world.apply("manifests/from-gallery-version.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let version = world.versionID("layered", "1.1.0")
            try world.expectPublished(image: nil, version: version)
            #expect(try world.read("/etc/kiln/layers", in: version) == "base\nlayered\n")
            #expect(try world.read("/marker", in: version, blob: 1, partition: nil) == "base-data\n")
            let properties = try world.get(version, apiVersion: EmulatedWorld.galleryAPI)["properties"] as? [String: Any]
            let publishing = properties?["publishingProfile"] as? [String: Any]
            #expect(publishing?["endOfLifeDate"] as? String != nil)
            #expect(publishing?["excludeFromLatest"] as? Bool == false)
            try world.expectConverged("manifests/from-gallery-version.yaml", builds: ["layered"])
            let drift = try world.kiln("drift", ["manifests/from-gallery-version.yaml"])
            #expect(drift.status == 0, "\(drift.stdout)\n\(drift.stderr)")
            // The base is untouched by the layer built on it.
            let plan = try world.kiln("plan", ["--detailed-exitcode", "manifests/layered-base.yaml"])
            #expect(plan.status == 0, "\(plan.stdout)\n\(plan.stderr)")
        }
    }

    /// `source.scratch`: an empty disk partitioned and formatted by pre-mount commands, a
    /// root laid down from the host's busybox, a step run in it.
    @Test func fromScratch() throws {
        try timed("fromScratch") {
            let world = try EmulatedWorld("kiln-e2e-scratch")
            defer { world.close(builds: ["scratch"]) }
            let apply = try world.apply("manifests/from-scratch.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let image = world.id("images", "scratch")
            try world.expectPublished(image: image)
            #expect(try world.read("/etc/hostname", in: image) == "scratch\n")
            try world.expectConverged("manifests/from-scratch.yaml", builds: ["scratch"])
        }
    }

    /// Two empty data disks attached with the OS disk, one formatted and mounted where the
    /// manifest says while provisioning, both snapshotted and in the image and the version
    /// (three regions).
    @Test func withDataDisks() throws {
        try timed("withDataDisks") {
            let world = try EmulatedWorld("kiln-e2e-data")
            defer { world.close(builds: ["with-data"]) }
            let apply = try world.apply("manifests/data-disks.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let image = world.id("images", "with-data")
            let version = world.versionID("with-data", "1.0.0")
            try world.expectPublished(image: image, version: version)

            let imageDisks = ((try world.get(image, apiVersion: EmulatedWorld.computeAPI)["properties"] as? [String: Any])?["storageProfile"] as? [String: Any])?["dataDisks"] as? [[String: Any]] ?? []
            #expect(imageDisks.compactMap { $0["lun"] as? Int }.sorted() == [0, 1])
            let properties = try world.get(version, apiVersion: EmulatedWorld.galleryAPI)["properties"] as? [String: Any]
            let versionDisks = (properties?["storageProfile"] as? [String: Any])?["dataDiskImages"] as? [[String: Any]] ?? []
            #expect(versionDisks.compactMap { $0["lun"] as? Int }.sorted() == [0, 1])
            let regions = ((properties?["publishingProfile"] as? [String: Any])?["targetRegions"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(regions.count == 3, "\(regions)")

            // The step wrote through the mount at /var/lib/data: the file is on data disk 0.
            let blobs = try world.emulator.blobFiles(of: image)
            #expect(blobs.count == 3)
            let lun0 = try blobs.first { try DiskImage.read("/marker", in: $0) != nil }
            #expect(lun0 != nil, "no data disk of the image holds /marker")
            if let lun0 { #expect(try DiskImage.read("/marker", in: lun0) == "data\n") }
            try world.expectConverged("manifests/data-disks.yaml", builds: ["with-data"])
            let drift = try world.kiln("drift", ["manifests/data-disks.yaml"])
            #expect(drift.status == 0, "\(drift.stdout)\n\(drift.stderr)")
        }
    }

    /// Two builds of one manifest run side by side: both disks are created before either
    /// image, and each image holds its own build's file.
    @Test func twoBuildsSideBySide() throws {
        try timed("twoBuildsSideBySide") {
            let world = try EmulatedWorld("kiln-e2e-two")
            defer { world.close(builds: ["web", "worker"]) }
            let apply = try world.apply("manifests/two-builds.yaml")
            #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
            let web = world.id("images", "web"), worker = world.id("images", "worker")
            try world.expectPublished(image: web)
            try world.expectPublished(image: worker)
            #expect(try world.read("/etc/role", in: web) == "web\n")
            #expect(try world.read("/etc/role", in: worker) == "worker\n")

            let puts = try world.mutations(since: 0).filter { $0.hasPrefix("PUT ") }
            let diskPuts = puts.indices.filter { puts[$0].contains("/disks/kiln-web-") || puts[$0].contains("/disks/kiln-worker-") }
            let firstImage = puts.firstIndex { $0.contains("Microsoft.Compute/images/") }
            #expect(diskPuts.count == 2, "\(puts)")
            if let firstImage, let lastDisk = diskPuts.max() { #expect(lastDisk < firstImage, "not side by side: \(puts)") }
            try world.expectConverged("manifests/two-builds.yaml", builds: ["web", "worker"])
        }
    }
}
