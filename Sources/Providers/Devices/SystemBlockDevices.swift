import Foundation
import Model

#if canImport(Glibc)
    import Glibc
    // `struct stat`'s members are attributed to whichever C module the compiler loaded the
    // header through first (Glibc or Dispatch's CDispatch, varying between builds), and
    // MemberImportVisibility wants that module imported: import both.
    #if canImport(CDispatch)
        import CDispatch
    #endif
#elseif canImport(Darwin)
    import Darwin
#endif

/// Finds data-disk devices through the udev links that Azure images create, under a
/// configurable device root (`/dev` on a VM; the emulator's own root in tests):
///
/// * `ROOT/disk/azure/data/by-lun/<N>` (azure-vm-utils, SCSI and NVMe sizes), tried first;
/// * `ROOT/disk/azure/scsi1/lun<N>` (WALinuxAgent rules, SCSI sizes);
/// * on NVMe sizes whose image lacks azure-vm-utils, a scan of `SYSFS/block/nvme*n*` for
///   the remote-disk controller (`device/model` = `MSFT NVMe Accelerator v1.0`) and the
///   namespace id `N + 2` (namespace 1 is the OS disk), giving `ROOT/nvme…`.
///
/// A partition is the link's `-part<K>` sibling, else the real device's name plus `p<K>`
/// when the name ends in a digit (`nvme0n2p1`, `loop7p1`), else plus `<K>` (`sdc1`).
public struct SystemBlockDevices: BlockDeviceLocator {
    public var deviceRoot: String
    /// Where sysfs is, for the NVMe scan; nil disables the scan.
    public var sysfsRoot: String?
    /// How often a wait looks again (a `readlink` and a `stat`: cheap). 50 ms: the attach
    /// ends when its device appears, so this is how late Kiln can see it (Packer looks every
    /// 100 ms).
    public var pollInterval: Duration
    public var clock: any Clock<Duration>

    /// The model string of the NVMe controller that serves Azure's remote (data) disks.
    public static let remoteNVMeModel = "MSFT NVMe Accelerator v1.0"

    /// `sysfsRoot` defaults to `/sys` when `deviceRoot` is `/dev`, and to no NVMe scan for
    /// any other device root (an emulator's disks must not be confused with the VM's).
    public init(
        deviceRoot: String = "/dev", sysfsRoot: String? = nil, pollInterval: Duration = .milliseconds(50),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        let root = deviceRoot.hasSuffix("/") && deviceRoot.count > 1 ? String(deviceRoot.dropLast()) : deviceRoot
        self.deviceRoot = root
        self.sysfsRoot = sysfsRoot ?? (root == "/dev" ? "/sys" : nil)
        self.pollInterval = pollInterval
        self.clock = clock
    }

    /// The links that can name the disk at `lun`, in the order they are tried.
    public func candidateLinks(lun: Int) -> [String] {
        ["\(deviceRoot)/disk/azure/data/by-lun/\(lun)", "\(deviceRoot)/disk/azure/scsi1/lun\(lun)"]
    }

    /// Everything `device(lun:)` looks at, for error messages.
    func lookedAt(lun: Int) -> [String] {
        candidateLinks(lun: lun)
            + (sysfsRoot.map { ["\($0)/block/nvme*n* (model \(Self.remoteNVMeModel), nsid \(lun + 2))"] } ?? [])
    }

    public func device(lun: Int) async throws -> AttachedBlockDevice? {
        guard (0...63).contains(lun) else { throw BlockDeviceError.invalidLUN(lun) }
        for link in candidateLinks(lun: lun) where pathExists(link) {
            return AttachedBlockDevice(lun: lun, link: link, path: try resolve(link))
        }
        if let name = nvmeNamespace(lun: lun) {
            let path = "\(deviceRoot)/\(name)"
            if pathExists(path) { return AttachedBlockDevice(lun: lun, link: path, path: try resolve(path)) }
        }
        return nil
    }

    /// The block device name (`nvme0n3`) of the remote NVMe namespace for `lun`, if any.
    func nvmeNamespace(lun: Int) -> String? {
        guard let sysfsRoot, let names = try? FileManager.default.contentsOfDirectory(atPath: "\(sysfsRoot)/block")
        else { return nil }
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return names.sorted().first { name in
            // Namespaces only (nvme0n3), not partitions (nvme0n3p1).
            guard name.hasPrefix("nvme"), name.dropFirst(4).contains("n"), !name.dropFirst(4).contains("p") else {
                return false
            }
            return read("\(sysfsRoot)/block/\(name)/device/model") == Self.remoteNVMeModel
                && read("\(sysfsRoot)/block/\(name)/nsid").flatMap { Int($0) } == lun + 2
        }
    }

    /// Waits until no device is visible for `lun` any more (after a detach, once udev has
    /// removed the links), or throws `BlockDeviceError.removalTimedOut`.
    public func waitForRemoval(lun: Int, timeout: Duration) async throws {
        try await Waiting.for("the device of LUN \(lun) to go after its detach") { note in
            var waited = Duration.zero
            while let device = try await device(lun: lun) {
                note.seen("still present at \(device.link) → \(device.path)")
                if waited >= timeout {
                    throw BlockDeviceError.removalTimedOut(lun: lun, timeout: timeout, stillThere: device.link)
                }
                try await clock.sleep(for: pollInterval)
                waited += pollInterval
            }
        }
    }

    public func waitForDevice(lun: Int, timeout: Duration) async throws -> AttachedBlockDevice {
        let looked = lookedAt(lun: lun)
        return try await poll(
            for: "the block device of LUN \(lun) to appear", at: looked, timeout: timeout,
            onTimeout: BlockDeviceError.deviceTimedOut(lun: lun, timeout: timeout, looked: looked)
        ) {
            try await device(lun: lun)
        }
    }

    /// The paths that can name partition `partition` of `device`, in the order tried.
    public func candidatePartitionPaths(_ partition: Int, of device: AttachedBlockDevice) -> [String] {
        ["\(device.link)-part\(partition)", PartitionNaming.prefix(of: device.path) + String(partition)]
    }

    public func waitForPartition(_ partition: Int?, of device: AttachedBlockDevice, timeout: Duration) async throws
        -> String
    {
        guard let partition else { return device.path }
        let looked = candidatePartitionPaths(partition, of: device)
        return try await poll(
            for: "partition \(partition) of \(device.path) to appear", at: looked, timeout: timeout,
            onTimeout: BlockDeviceError.partitionTimedOut(
                partition: partition, device: device.path, timeout: timeout, looked: looked)
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

    /// Probes every `pollInterval` until `probe` finds something or `timeout` has passed,
    /// saying while it lasts that it waits for `what` and has found nothing at `looked`.
    private func poll<T: Sendable>(
        for what: String, at looked: [String], timeout: Duration, onTimeout: BlockDeviceError,
        _ probe: () async throws -> T?
    ) async throws -> T {
        try await Waiting.for(what) { note in
            note.seen("nothing yet at \(looked.joined(separator: " or "))")
            var waited = Duration.zero
            while true {
                if let found = try await probe() { return found }
                if waited >= timeout { throw onTimeout }
                try await clock.sleep(for: pollInterval)
                waited += pollInterval
            }
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
