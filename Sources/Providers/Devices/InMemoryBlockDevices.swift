/// A `BlockDeviceLocator` over a table in memory, for unit tests: devices can be made to
/// appear after a number of polls, so waits and timeouts are exercised without sleeping.
public actor InMemoryBlockDevices: BlockDeviceLocator {
    /// A disk the fake knows: its device path and partition paths, and after how many
    /// probes it becomes visible.
    public struct Disk: Sendable {
        public var path: String
        public var partitions: [Int: String]
        public var visibleAfterProbes: Int

        public init(path: String, partitions: [Int: String] = [:], visibleAfterProbes: Int = 0) {
            self.path = path
            self.partitions = partitions
            self.visibleAfterProbes = visibleAfterProbes
        }
    }

    private var disks: [Int: Disk]
    /// Device paths that `isInUse` reports as held.
    public private(set) var inUse: Set<String> = []
    private var probes: [Int: Int] = [:]

    public init(disks: [Int: Disk] = [:]) {
        self.disks = disks
    }

    /// Adds (or replaces) the disk at `lun`.
    public func attach(lun: Int, _ disk: Disk) { disks[lun] = disk }
    /// Marks `devicePath` as held (mounted) or free.
    public func setInUse(_ devicePath: String, _ held: Bool) {
        if held { inUse.insert(devicePath) } else { inUse.remove(devicePath) }
    }

    public func isInUse(_ devicePath: String) async throws -> Bool { inUse.contains(devicePath) }

    /// Removes the disk at `lun`.
    public func detach(lun: Int) { disks[lun] = nil }

    public func device(lun: Int) async throws -> AttachedBlockDevice? {
        guard (0...63).contains(lun) else { throw BlockDeviceError.invalidLUN(lun) }
        probes[lun, default: 0] += 1
        guard let disk = disks[lun], probes[lun, default: 0] > disk.visibleAfterProbes else { return nil }
        return AttachedBlockDevice(lun: lun, link: "memory:/lun\(lun)", path: disk.path)
    }

    public func waitForDevice(lun: Int, timeout: Duration) async throws -> AttachedBlockDevice {
        // Each probe stands for one poll interval of 1 s; no real time passes.
        var waited = Duration.zero
        while true {
            try Task.checkCancellation()
            if let device = try await device(lun: lun) { return device }
            if waited >= timeout {
                throw BlockDeviceError.deviceTimedOut(lun: lun, timeout: timeout, looked: ["memory:/lun\(lun)"])
            }
            waited += .seconds(1)
        }
    }

    public func waitForRemoval(lun: Int, timeout: Duration) async throws {
        var waited = Duration.zero
        while disks[lun] != nil {
            if waited >= timeout {
                throw BlockDeviceError.removalTimedOut(lun: lun, timeout: timeout, stillThere: "memory:/lun\(lun)")
            }
            try Task.checkCancellation()
            await Task.yield()
            waited += .seconds(1)
        }
    }

    public func waitForPartition(_ partition: Int?, of device: AttachedBlockDevice, timeout: Duration) async throws
        -> String
    {
        guard let partition else { return device.path }
        if let path = disks[device.lun]?.partitions[partition] { return path }
        throw BlockDeviceError.partitionTimedOut(
            partition: partition, device: device.path, timeout: timeout, looked: ["\(device.link)-part\(partition)"])
    }
}
