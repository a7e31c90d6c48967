import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why a disk-backend operation failed. Each case names the blob or LUN involved and the
/// description says what to do next, because these texts end up in emulator logs and in
/// Azure-shaped error bodies that a test author reads.
public enum DiskBackendError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The blob `id` does not exist in the state directory.
    case blobNotFound(id: String)
    /// The operation would change a blob that is attached at `lun`.
    case blobAttached(id: String, lun: Int)
    /// A resize or copy asked for fewer bytes than the blob already has.
    case shrinkRefused(id: String, currentBytes: Int64, requestedBytes: Int64)
    /// A size that is zero, negative or absurdly large.
    case invalidSize(id: String, sizeGB: Int)
    /// Another disk is attached (or being attached or detached) at `lun`.
    case lunInUse(lun: Int, by: String)
    /// A LUN outside 0...63.
    case invalidLun(lun: Int)
    /// Nothing is attached at `lun`.
    case nothingAttached(lun: Int)
    /// A host command (losetup, partx, sfdisk, mkfs.ext4, ...) failed.
    case commandFailed(command: String, status: Int32, stderr: String)
    /// A host tool is missing; `package` is the Debian package that provides it.
    case toolMissing(tool: String, package: String)
    /// A system call failed on `path`.
    case systemCall(call: String, path: String, errno: Int32)
    /// The platform-image builder cannot produce an image.
    case imageBuildFailed(image: String, reason: String)

    public var description: String {
        switch self {
        case .blobNotFound(let id):
            return "disk blob '\(id)' does not exist in the emulator's state directory; create it first"
        case .blobAttached(let id, let lun):
            return "disk blob '\(id)' is attached at LUN \(lun); detach it first"
        case .shrinkRefused(let id, let current, let requested):
            return
                "disk blob '\(id)' has \(current) bytes; refusing to shrink it to \(requested) bytes (disks only grow)"
        case .invalidSize(let id, let sizeGB):
            return "disk blob '\(id)': size \(sizeGB) GiB is out of range (1...32767 GiB)"
        case .lunInUse(let lun, let by):
            return "LUN \(lun) is already used by '\(by)'; pick another LUN or detach that disk first"
        case .invalidLun(let lun):
            return "LUN \(lun) is out of range; Azure data disk LUNs are 0...63"
        case .nothingAttached(let lun):
            return "no disk is attached at LUN \(lun)"
        case .commandFailed(let command, let status, let stderr):
            let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return "'\(command)' exited with status \(status)" + (detail.isEmpty ? "" : ": \(detail)")
        case .toolMissing(let tool, let package):
            return
                "host tool '\(tool)' not found; install the Debian package '\(package)' (apt-get install -y \(package))"
        case .systemCall(let call, let path, let code):
            return "\(call) on '\(path)' failed: \(String(cString: strerror(code))) (errno \(code))"
        case .imageBuildFailed(let image, let reason):
            return "building platform image \(image) failed: \(reason)"
        }
    }
}
