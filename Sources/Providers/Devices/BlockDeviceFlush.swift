import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Flushes a block device: its page cache is written out and the device is asked to commit
/// its write cache (`fsync` on a block device does both; on a loop device the backing file
/// is synced). Kiln does this after the last unmount and before Azure reads the disk for the
/// outputs, so the disk holds every byte written through the device — by `mkfs` in
/// `pre-mount`, say — whether or not a file system was mounted on it.
public enum BlockDeviceFlush {
    /// Flushes `path`; a device that is gone (detached already) has nothing left to flush.
    /// Throws `BlockDeviceFlushError` when the device exists but cannot be synced.
    public static func flush(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENXIO || errno == ENODEV { return }
            throw BlockDeviceFlushError(path: path, call: "open", errno: errno)
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BlockDeviceFlushError(path: path, call: "fsync", errno: errno) }
    }
}

/// A device that exists could not be flushed: its outputs might miss data, so Kiln stops.
public struct BlockDeviceFlushError: Error, CustomStringConvertible {
    public var path: String
    public var call: String
    public var errno: Int32

    public var description: String {
        "cannot flush \(path) before Azure reads the disk (\(call): \(String(cString: strerror(errno)))); check that the device is still healthy, then run kiln apply again"
    }
}
