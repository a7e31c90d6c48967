import Foundation
import TestSupport
import Testing

@testable import AzureEmulator

#if canImport(Glibc)
    import Glibc
#endif

extension Tag {
    /// Tests that need root: real loop devices, partitions and mounts.
    @Tag static var loopDisks: Self
}

let rootReason: Comment = "needs root: sets up loop devices (losetup, partx) and mounts filesystems"

/// A private state directory, device root and image cache under /tmp/kiln-disks-test-*,
/// a backend on them, and a record of everything a test mounted or set up itself, so that
/// `cleanup` can undo it on every path.
final class DiskTestFixture: @unchecked Sendable {
    // @unchecked Sendable: `mounts` and `loops` are only touched through the lock.
    let root: String
    let stateDirectory: String
    let deviceRoot: String
    let cacheDirectory: String
    let backend: LoopDiskBackend
    private let lock = NSLock()
    private var mounts: [String] = []

    init(imageBytes: Int64 = 256 << 20) throws {
        root = "/tmp/kiln-disks-test-\(UUID().uuidString.prefix(8))"
        stateDirectory = root + "/state"
        deviceRoot = root + "/dev"
        cacheDirectory = root + "/images"
        backend = try LoopDiskBackend(
            stateDirectory: stateDirectory, deviceRoot: deviceRoot, imageCacheDirectory: cacheDirectory,
            platformImageBytes: imageBytes)
    }

    /// A second backend on the same directories: an emulator restart.
    func restartedBackend() throws -> LoopDiskBackend {
        try LoopDiskBackend(
            stateDirectory: stateDirectory, deviceRoot: deviceRoot, imageCacheDirectory: cacheDirectory,
            platformImageBytes: 256 << 20)
    }

    var linkDirectory: String { deviceRoot + "/disk/azure/scsi1" }

    /// Mounts `device` on a fresh directory under the fixture and remembers it.
    func mount(_ device: String) async throws -> String {
        let point = root + "/mnt-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
        try await DiskCommand.check("mount", [device, point])
        lock.withLock { mounts.append(point) }
        return point
    }

    /// Unmounts, retrying while the mount is busy: tests run in parallel in one process, and a
    /// child another test spawns can briefly hold an inherited descriptor of a file here.
    func unmount(_ point: String) async throws {
        var attempt = 0
        while true {
            do {
                try await DiskCommand.check("umount", [point])
                break
            } catch  where attempt < 40 && "\(error)".contains("busy") {
                attempt += 1
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        lock.withLock { mounts.removeAll { $0 == point } }
    }

    /// Undoes everything: unmounts, detaches, frees any loop device on a file of ours, and
    /// removes the directories only when nothing is mounted below them.
    func cleanup(backends extra: [LoopDiskBackend] = []) async {
        for point in lock.withLock({ mounts.reversed() }) {
            if (try? await DiskCommand.check("umount", [point])) == nil {
                _ = try? await DiskCommand.run("umount", ["-l", point])
            }
        }
        lock.withLock { mounts.removeAll() }
        for backend in [backend] + extra { await backend.detachAll() }
        for (device, _) in LoopDeviceState.devices(backedUnder: root) {
            _ = try? await DiskCommand.run("partx", ["-d", device])
            _ = try? await DiskCommand.run("losetup", ["-d", device])
        }
        if await Leaks.mounts(containing: root).isEmpty { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Runs `body` with a fixture and cleans up whether it throws or not.
    static func with(imageBytes: Int64 = 256 << 20, _ body: (DiskTestFixture) async throws -> Void) async throws {
        let fixture = try DiskTestFixture(imageBytes: imageBytes)
        do {
            try await body(fixture)
        } catch {
            await fixture.cleanup()
            throw error
        }
        await fixture.cleanup()
    }
}

/// Output of a host command that must succeed.
@discardableResult
func host(_ tool: String, _ arguments: String...) async throws -> String {
    try await DiskCommand.check(tool, arguments).stdout
}

/// What `losetup -j FILE` lists (loop devices on FILE).
func loopDevices(on file: String) async throws -> [String] {
    try await host("losetup", "-j", file).split(separator: "\n").map(String.init)
}

/// `readlink -f`.
func resolved(_ path: String) -> String { LoopDeviceState.canonicalPath(path) }

/// The byte offset of partition `number` in a disk file, from `sfdisk --json`.
func partitionOffset(_ file: String, number: Int) async throws -> Int64 {
    let json = try await host("sfdisk", "--json", file)
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    let table = object?["partitiontable"] as? [String: Any]
    let partitions = table?["partitions"] as? [[String: Any]] ?? []
    for partition in partitions {
        if let node = partition["node"] as? String, node.hasSuffix("\(file)\(number)") || node == "\(file)\(number)",
            let start = partition["start"] as? Int
        {
            return Int64(start) * 512
        }
    }
    throw DiskBackendError.commandFailed(command: "sfdisk --json \(file)", status: 0, stderr: "no partition \(number)")
}

/// `debugfs -R 'cat PATH'` on the ext4 filesystem at `offset` in `file`: reads the disk
/// file without attaching or mounting it.
func readFromImage(_ file: String, offset: Int64, path: String) async throws -> String {
    try await host("debugfs", "-R", "cat \(path)", "\(file)?offset=\(offset)")
}

let ubuntuV2 = PlatformImageKey(
    publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "24.04.202501010", hyperVGeneration: "V2"
)
let ubuntuV1 = PlatformImageKey(
    publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts", version: "22.04.202501010",
    hyperVGeneration: "V1")
