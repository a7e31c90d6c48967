import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds data-disk devices through the udev links that Azure images create, under a
/// configurable device root (`/dev` on a VM; the emulator's own root in tests):
///
/// * `ROOT/disk/azure/data/by-lun/<N>` (azure-vm-utils, SCSI and NVMe sizes), tried first;
/// * `ROOT/disk/azure/scsi1/lun<N>` (WALinuxAgent rules, SCSI sizes).
///
/// A partition is the link's `-part<K>` sibling, else the real device's name plus `p<K>`
/// when the name ends in a digit (`nvme0n2p1`, `loop7p1`), else plus `<K>` (`sdc1`).
public struct SystemBlockDevices: BlockDeviceLocator {
    public var deviceRoot: String
    public var pollInterval: Duration
    public var clock: any Clock<Duration>

    public init(deviceRoot: String = "/dev", pollInterval: Duration = .milliseconds(200), clock: any Clock<Duration> = ContinuousClock()) {
        self.deviceRoot = deviceRoot.hasSuffix("/") && deviceRoot.count > 1 ? String(deviceRoot.dropLast()) : deviceRoot
        self.pollInterval = pollInterval
        self.clock = clock
    }

    /// The links that can name the disk at `lun`, in the order they are tried.
    public func candidateLinks(lun: Int) -> [String] {
        ["\(deviceRoot)/disk/azure/data/by-lun/\(lun)", "\(deviceRoot)/disk/azure/scsi1/lun\(lun)"]
    }

    public func device(lun: Int) async throws -> AttachedBlockDevice? {
        guard (0...63).contains(lun) else { throw BlockDeviceError.invalidLUN(lun) }
        for link in candidateLinks(lun: lun) where pathExists(link) {
            return AttachedBlockDevice(lun: lun, link: link, path: try resolve(link))
        }
        return nil
    }

    public func waitForDevice(lun: Int, timeout: Duration) async throws -> AttachedBlockDevice {
        let looked = candidateLinks(lun: lun)
        return try await poll(timeout: timeout, onTimeout: BlockDeviceError.deviceTimedOut(lun: lun, timeout: timeout, looked: looked)) {
            try await device(lun: lun)
        }
    }

    /// The paths that can name partition `partition` of `device`, in the order tried.
    public func candidatePartitionPaths(_ partition: Int, of device: AttachedBlockDevice) -> [String] {
        let name = device.path
        let suffixed = name.last?.isNumber == true ? "\(name)p\(partition)" : "\(name)\(partition)"
        return ["\(device.link)-part\(partition)", suffixed]
    }

    public func waitForPartition(_ partition: Int?, of device: AttachedBlockDevice, timeout: Duration) async throws -> String {
        guard let partition else { return device.path }
        let looked = candidatePartitionPaths(partition, of: device)
        return try await poll(
            timeout: timeout,
            onTimeout: BlockDeviceError.partitionTimedOut(partition: partition, device: device.path, timeout: timeout, looked: looked)
        ) {
            for path in looked where pathExists(path) { return try resolve(path) }
            return nil
        }
    }

    /// Uses an exclusive open (`O_EXCL` on a block device), which fails with `EBUSY` while
    /// the device or any partition on it is mounted, in any mount namespace, or held by
    /// device-mapper; the mount table alone would miss mounts made in another namespace.
    public func isInUse(_ devicePath: String) async throws -> Bool {
        let fd = open(devicePath, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK)
        if fd >= 0 {
            close(fd)
            return false
        }
        let code = errno
        if code == EBUSY { return true }
        throw BlockDeviceError.cannotProbe(device: devicePath, reason: errnoText(code))
    }

    private func poll<T: Sendable>(timeout: Duration, onTimeout: BlockDeviceError, _ probe: () async throws -> T?) async throws -> T {
        var waited = Duration.zero
        while true {
            if let found = try await probe() { return found }
            if waited >= timeout { throw onTimeout }
            try await clock.sleep(for: pollInterval)
            waited += pollInterval
        }
    }

    /// True when `path` exists, following links (a dangling link does not count: udev may
    /// have created the link before the node).
    private func pathExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    private func resolve(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else {
            throw BlockDeviceError.danglingLink(link: path, reason: errnoText())
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
