/// A data disk's block device as the builder VM sees it.
public struct AttachedBlockDevice: Sendable, Equatable, CustomStringConvertible {
    /// The LUN the disk is attached at.
    public var lun: Int
    /// The stable link that was found, e.g. `/dev/disk/azure/scsi1/lun2`.
    public var link: String
    /// The real device node the link resolves to, e.g. `/dev/sdc` or `/dev/loop7`.
    public var path: String

    public init(lun: Int, link: String, path: String) {
        self.lun = lun
        self.link = link
        self.path = path
    }

    public var description: String { "LUN \(lun) (\(link) → \(path))" }
}

/// Finds the block devices of attached data disks and their partitions.
///
/// Contract: waits never exceed their `timeout` by more than one poll interval, return
/// resolved device paths (no symlinks), and throw `BlockDeviceError` naming every path that
/// was looked at. Cancellation ends a wait with `CancellationError`.
public protocol BlockDeviceLocator: Sendable {
    /// Waits until the disk at `lun` has a device, then returns it.
    func waitForDevice(lun: Int, timeout: Duration) async throws -> AttachedBlockDevice
    /// The device at `lun` now, or nil if none is visible.
    func device(lun: Int) async throws -> AttachedBlockDevice?
    /// Waits until partition `partition` of `device` exists, then returns its resolved path;
    /// `partition == nil` means the whole disk and returns `device.path`.
    func waitForPartition(_ partition: Int?, of device: AttachedBlockDevice, timeout: Duration) async throws -> String
    /// Whether the device (or a partition on it) is held: mounted in any mount namespace,
    /// or claimed by device-mapper/LVM. A disk must not be detached while this is true.
    func isInUse(_ devicePath: String) async throws -> Bool
    /// Waits until no device is visible at `lun` (after a detach).
    func waitForRemoval(lun: Int, timeout: Duration) async throws
}

/// Why a device could not be found; each case lists what was looked at and what to check.
public enum BlockDeviceError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidLUN(Int)
    case deviceTimedOut(lun: Int, timeout: Duration, looked: [String])
    case partitionTimedOut(partition: Int, device: String, timeout: Duration, looked: [String])
    case danglingLink(link: String, reason: String)
    case cannotProbe(device: String, reason: String)
    case removalTimedOut(lun: Int, timeout: Duration, stillThere: String)

    public var description: String {
        switch self {
        case .invalidLUN(let lun):
            "LUN \(lun) is not a valid LUN (0…63)"
        case .deviceTimedOut(let lun, let timeout, let looked):
            "no block device appeared for LUN \(lun) within \(timeout); looked for \(looked.joined(separator: ", ")). Check that the disk is attached to this VM (and that udev rules from WALinuxAgent or azure-vm-utils are installed), or raise the device timeout"
        case .partitionTimedOut(let partition, let device, let timeout, let looked):
            "partition \(partition) of \(device) did not appear within \(timeout); looked for \(looked.joined(separator: ", ")). Check the disk's partition table (mount_partition), or use the whole disk"
        case .danglingLink(let link, let reason):
            "device link \(link) cannot be resolved: \(reason)"
        case .removalTimedOut(let lun, let timeout, let stillThere):
            "the device of LUN \(lun) (\(stillThere)) was still present \(timeout) after the detach; check `udevadm settle` and whether the detach really finished"
        case .cannotProbe(let device, let reason):
            "cannot tell whether \(device) is in use: \(reason)"
        }
    }
}

/// The kernel's partition naming: a partition number follows `p` after a device name that
/// ends in a digit (`/dev/loop0p1`, `/dev/nvme0n2p1`) and follows the name directly
/// otherwise (`/dev/sdc1`).
public enum PartitionNaming {
    /// What partition numbers of `device` are appended to (`/dev/sdc`, `/dev/loop0p`).
    public static func prefix(of device: String) -> String {
        device.last?.isNumber == true ? device + "p" : device
    }

    /// Whether `path` is `device` itself or one of its partitions (so `/dev/loop10p1` is not
    /// on `/dev/loop1`).
    public static func isOnDevice(_ path: String, _ device: String) -> Bool {
        if path == device { return true }
        let prefix = prefix(of: device)
        guard path.hasPrefix(prefix) else { return false }
        let number = path.dropFirst(prefix.count)
        return !number.isEmpty && number.allSatisfy(\.isNumber)
    }
}
