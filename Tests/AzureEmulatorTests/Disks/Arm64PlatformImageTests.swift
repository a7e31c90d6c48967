import Foundation
import Testing

@testable import AzureEmulator

/// The Arm64 platform image: an ext4 root whose busybox userland is Debian's arm64
/// `busybox-static` (extracted by `make deps`). Built and read with sfdisk, mkfs.ext4 and
/// debugfs on plain files: no root needed.
@Suite struct Arm64PlatformImageTests {
    let ubuntuArm64 = PlatformImageKey(
        publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server-arm64", version: "24.04.202501010",
        hyperVGeneration: "V2", architecture: .arm64)

    static var arm64BusyboxMissing: Bool {
        !FileManager.default.fileExists(atPath: BusyboxPaths.defaultPath(for: .arm64))
    }

    @Test(
        .disabled(
            if: arm64BusyboxMissing,
            "no Debian arm64 busybox-static at /usr/local/lib/kiln/arm64/busybox: run make deps as root"))
    func arm64ImageHasAnAarch64BusyboxUserland() async throws {
        try await DiskTestFixture.with { fixture in
            let path = try await fixture.backend.imageBuilder.image(for: ubuntuArm64)
            let offset = try await partitionOffset(path, number: 1)
            let osRelease = try await readFromImage(path, offset: offset, path: "/usr/lib/os-release")
            #expect(osRelease.contains("KILN_IMAGE_ARCHITECTURE=\"Arm64\""))
            // /bin/busybox, dumped out of the file system: an aarch64 ELF (e_machine 0xB7).
            let busybox = fixture.root + "/busybox-arm64"
            _ = try await host("debugfs", "-R", "dump -p /bin/busybox \(busybox)", "\(path)?offset=\(offset)")
            let header = try #require(FileHandle(forReadingAtPath: busybox)).readData(ofLength: 20)
            #expect(header.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]))
            #expect(UInt16(header[18]) | UInt16(header[19]) << 8 == 0xB7)
            #expect(PlatformImageBuilder.elfMachine(busybox) == ImageArchitecture.arm64.elfMachine)
            let shell = try await host("debugfs", "-R", "stat /bin/sh", "\(path)?offset=\(offset)")
            #expect(shell.contains("Type: symlink"))
            // The x64 image of the same name is another file: the architecture is part of the key.
            var x64 = ubuntuArm64
            x64.architecture = .x64
            #expect(fixture.backend.imageBuilder.cachedPath(for: x64) != path)
        }
    }

    static var qemuMissing: Bool { !FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-aarch64-static") }

    @Test(
        .disabled(if: arm64BusyboxMissing || qemuMissing, "needs qemu-user-static and the arm64 busybox: make deps"))
    func arm64BusyboxRunsUnderQemu() async throws {
        try await DiskTestFixture.with { fixture in
            let path = try await fixture.backend.imageBuilder.image(for: ubuntuArm64)
            let offset = try await partitionOffset(path, number: 1)
            let busybox = fixture.root + "/busybox-run"
            _ = try await host("debugfs", "-R", "dump -p /bin/busybox \(busybox)", "\(path)?offset=\(offset)")
            let machine = try await host("/usr/bin/qemu-aarch64-static", busybox, "uname", "-m")
            #expect(machine.trimmingCharacters(in: .whitespacesAndNewlines) == "aarch64")
        }
    }

    @Test func aMissingArm64BusyboxFailsNamingTheFileAndTheFix() async throws {
        try await DiskTestFixture.with { fixture in
            let missing = fixture.root + "/no-such-busybox"
            let builder = PlatformImageBuilder(
                cacheDirectory: fixture.cacheDirectory, diskBytes: 64 << 20, busybox: BusyboxPaths(arm64: missing))
            let error = await #expect(throws: DiskBackendError.self) { try await builder.image(for: ubuntuArm64) }
            let text = error.map(String.init(describing:)) ?? ""
            #expect(text.contains(missing))
            #expect(text.contains("make deps"))
            #expect(text.contains("busybox-static:arm64"))
            // A busybox of the wrong architecture (the host's x86-64 one) is refused too.
            let hostBusybox = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.fileExists(atPath: $0) }
            if let hostBusybox, ImageArchitecture.host == .x64 {
                let wrong = PlatformImageBuilder(
                    cacheDirectory: fixture.cacheDirectory, diskBytes: 64 << 20,
                    busybox: BusyboxPaths(arm64: hostBusybox))
                let mismatch = await #expect(throws: DiskBackendError.self) { try await wrong.image(for: ubuntuArm64) }
                #expect(mismatch.map(String.init(describing:))?.contains("not an aarch64 executable") == true)
            }
        }
    }

    @Test func catalogListsTheArm64Image() {
        let arm64 = PlatformImage.defaultCatalog.filter { $0.architecture == .arm64 }
        #expect(arm64.map(\.key) == [ubuntuArm64])
        #expect(arm64.first?.securityFeature == nil)
    }
}
