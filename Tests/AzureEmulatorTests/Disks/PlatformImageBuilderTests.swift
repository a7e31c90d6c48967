import Foundation
import Testing

@testable import AzureEmulator

#if canImport(Glibc)
    import Glibc
#endif

/// Platform image disks: partition table, root filesystem contents, caching. Built and
/// read with sfdisk, mkfs.ext4 and debugfs on plain files: no root needed.
@Suite struct PlatformImageBuilderTests {
    func partitionTable(_ file: String) async throws -> (label: String, partitions: [[String: Any]]) {
        let json = try await host("sfdisk", "--json", file)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let table = try #require(object["partitiontable"] as? [String: Any])
        return (table["label"] as? String ?? "", table["partitions"] as? [[String: Any]] ?? [])
    }

    @Test func generationOneImageIsMBRWithExt4Root() async throws {
        try await DiskTestFixture.with { fixture in
            let path = try await fixture.backend.imageBuilder.image(for: ubuntuV1)
            #expect(try SparseFile.size(of: path) == 256 << 20)
            #expect(try SparseFile.allocatedBytes(of: path) < 64 << 20)
            let table = try await partitionTable(path)
            #expect(table.label == "dos")
            #expect(table.partitions.count == 1)
            #expect(table.partitions.first?["type"] as? String == "83")

            let offset = try await partitionOffset(path, number: 1)
            let osRelease = try await readFromImage(path, offset: offset, path: "/usr/lib/os-release")
            #expect(osRelease.contains("KILN_IMAGE_VERSION=\"22.04.202501010\""))
            #expect(osRelease.contains("KILN_IMAGE_OFFER=\"0001-com-ubuntu-server-jammy\""))
            #expect(osRelease.contains("KILN_IMAGE_HYPERV_GENERATION=\"V1\""))
            let shell = try await host("debugfs", "-R", "stat /bin/sh", "\(path)?offset=\(offset)")
            #expect(shell.contains("Type: symlink"))
            let label = try await host("debugfs", "-R", "show_super_stats -h", "\(path)?offset=\(offset)")
            #expect(label.contains("cloudimg-rootfs"))
        }
    }

    @Test func generationTwoImageIsGPTWithRootAndEFIPartition() async throws {
        try await DiskTestFixture.with { fixture in
            let path = try await fixture.backend.imageBuilder.image(for: ubuntuV2)
            let table = try await partitionTable(path)
            #expect(table.label == "gpt")
            let byNode = Dictionary(
                uniqueKeysWithValues: table.partitions.compactMap { partition -> (String, String)? in
                    guard let node = partition["node"] as? String, let type = partition["type"] as? String else {
                        return nil
                    }
                    return (String(node.dropFirst(path.count)), type)
                })
            #expect(byNode["1"] == "0FC63DAF-8483-4772-8E79-3D69C8477DE4")
            #expect(byNode["15"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
            let offset = try await partitionOffset(path, number: 1)
            let hostname = try await readFromImage(path, offset: offset, path: "/etc/hostname")
            #expect(hostname == "localhost\n")
            let listing = try await host("debugfs", "-R", "ls -l /", "\(path)?offset=\(offset)")
            for directory in ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "run", "boot"] {
                #expect(
                    listing.contains(" \(directory)\n") || listing.contains(" \(directory) "), "missing /\(directory)")
            }
        }
    }

    @Test func imagesAreBuiltOnceAndCachedByKey() async throws {
        try await DiskTestFixture.with { fixture in
            let builder = fixture.backend.imageBuilder
            // Concurrent first uses share one build and one file.
            async let first = builder.image(for: ubuntuV2)
            async let second = builder.image(for: ubuntuV2)
            let (a, b) = try await (first, second)
            #expect(a == b)
            // The same file, not a rebuilt one (its inode through Foundation: C structs'
            // members in a test trip MemberImportVisibility, their module varying by build).
            let inode = { (path: String) in
                try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
            }
            let before = try #require(try inode(a))
            let again = try await builder.image(for: ubuntuV2)
            #expect(again == a)
            #expect(try inode(again) == before)

            var newer = ubuntuV2
            newer.version = "24.04.202502020"
            #expect(builder.cachedPath(for: newer) != a)
            // Nothing but finished images is left in the cache directory.
            let entries = try FileManager.default.contentsOfDirectory(atPath: fixture.cacheDirectory)
            #expect(entries == [(a as NSString).lastPathComponent])
        }
    }

    @Test func busyboxMustBeStatic() {
        #expect(
            PlatformImageBuilder.isStaticELF("/bin/busybox") || PlatformImageBuilder.isStaticELF("/usr/bin/busybox"))
        #expect(!PlatformImageBuilder.isStaticELF("/bin/ls"))
        #expect(!PlatformImageBuilder.isStaticELF("/etc/hostname"))
    }

    @Test func layoutsAreAlignedAndInsideTheDisk() {
        for generation in ["V1", "V2"] {
            let bytes: Int64 = 2 << 30
            let layout = PlatformImageBuilder.Layout.forDisk(bytes: bytes, generation: generation)
            #expect(layout.rootStart % 2048 == 0)
            #expect(layout.rootSectors % 2048 == 0)
            #expect((layout.rootStart + layout.rootSectors) * 512 <= bytes - (generation == "V2" ? 33 * 512 : 0))
            #expect(layout.gpt == (generation == "V2"))
        }
    }

    @Test func defaultCatalogCoversBothGenerationsAndTwoVersions() {
        let catalog = PlatformImageBuilder.defaultCatalog
        #expect(Set(catalog.map(\.hyperVGeneration)) == ["V1", "V2"])
        let versionsPerImage = Dictionary(grouping: catalog) { "\($0.publisher):\($0.offer):\($0.sku)" }
        #expect(versionsPerImage.values.contains { $0.count >= 2 })
        #expect(Set(catalog).count == catalog.count)
    }
}
