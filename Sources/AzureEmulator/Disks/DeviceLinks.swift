import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The `DEVROOT/disk/azure/scsi1/lun<N>` and `lun<N>-part<K>` links, as udev makes them on
/// an Azure VM (see azure-rest-api.md §11).
///
/// Targets are relative to the link's directory (`../../../../dev/loop7` when DEVROOT is
/// `/tmp/x/dev`, `../../../loop7` when it is `/dev`), because clients resolve them as
/// Packer does, by joining the link's directory and the target; `readlink -f` resolves
/// them to the loop device either way.
struct DeviceLinks: Sendable {
    let deviceRoot: String

    /// `DEVROOT/disk/azure/scsi1`.
    var directory: String { deviceRoot + "/disk/azure/scsi1" }

    func lunLink(_ lun: Int) -> String { "\(directory)/lun\(lun)" }
    func partitionLink(_ lun: Int, _ partition: Int) -> String { "\(directory)/lun\(lun)-part\(partition)" }

    /// Creates or replaces `link` so that it points at `target` (an absolute device path)
    /// by a relative path. Replacement is a rename over the old link, so a reader never
    /// sees the link missing or half-made.
    func place(link: String, target: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let relative = Self.relativePath(from: LoopDeviceState.canonicalPath(directory), to: target)
        let temporary = "\(directory)/.tmp-\(UUID().uuidString)"
        guard symlink(relative, temporary) == 0 else {
            throw DiskBackendError.systemCall(call: "symlink", path: temporary, errno: errno)
        }
        guard rename(temporary, link) == 0 else {
            let code = errno
            unlink(temporary)
            throw DiskBackendError.systemCall(call: "rename", path: link, errno: code)
        }
    }

    /// Removes `link`; a missing link is fine.
    func remove(link: String) {
        unlink(link)
    }

    /// Every `lun<N>` and `lun<N>-part<K>` link of `lun` present in the directory.
    func existingLinks(lun: Int) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0 == "lun\(lun)" || $0.hasPrefix("lun\(lun)-part") }.map { "\(directory)/\($0)" }
    }

    /// The path of `target` relative to the directory `base` (both absolute).
    static func relativePath(from base: String, to target: String) -> String {
        let from = base.split(separator: "/")
        let to = target.split(separator: "/")
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        let ups = Array(repeating: "..", count: from.count - common)
        let downs = to[common...].map(String.init)
        let parts = ups + downs
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}
