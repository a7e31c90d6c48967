import Foundation
import Model

/// Attaching and detaching Kiln's disks on the builder VM as one operation each: the Azure
/// call, and the device that must appear (or disappear) on this machine.
///
/// * attach: under the host-wide LUN lock, picks the lowest free LUN (0 included) within
///   the VM size's limit, attaches, waits for Azure, then waits for the device. Attaches
///   asked for while another change is under way go together in the next request
///   (`DataDiskQueue`), since Azure updates a VM one request at a time;
/// * detach: refuses while anything on the device is still mounted (checked with an
///   exclusive open, which also sees mounts made in other namespaces), detaches (in the
///   same queue and under the same lock: one update of the VM at a time), waits for Azure,
///   then waits for the device to go.
public struct BuilderDisks: Sendable {
    public let azure: any AzureCompute
    public let vm: ResourceID
    public let devices: any BlockDeviceLocator
    public let lock: any DataDiskLUNLock
    public let maxDataDisks: Int
    /// Shared by every copy of this value, so all builds of one apply batch together.
    public let queue: DataDiskQueue

    public init(
        azure: any AzureCompute, vm: ResourceID, devices: any BlockDeviceLocator, lock: any DataDiskLUNLock,
        maxDataDisks: Int
    ) {
        self.azure = azure
        self.vm = vm
        self.devices = devices
        self.lock = lock
        self.maxDataDisks = maxDataDisks
        queue = DataDiskQueue { batch, timeout, onStarted in
            try await azure.updateDataDisks(
                batch, on: vm, maxDataDisks: maxDataDisks, lock: lock, timeout: timeout,
                ensureNotInUse: { disk, lun in
                    if let device = try await devices.device(lun: lun), try await devices.isInUse(device.path) {
                        throw BuilderDiskError.stillInUse(disk: disk.name, lun: lun, device: device.path)
                    }
                },
                onStarted: onStarted)
        }
    }

    /// Attaches `disk` (or adopts its existing attachment) and returns its device.
    ///
    /// Returns as soon as the device is there: either once Azure's operation is seen to
    /// succeed (a poll, up to `Retry-After` after the fact) and the device has appeared, or
    /// earlier, when the device appears at the LUN Azure accepted the attach at — the guest
    /// sees the disk when the attach is done, which is what Packer's azure-chroot waits for.
    /// The early way is taken only for a LUN with no device when the request was accepted,
    /// so a device still there from a disk on its way out is never mistaken for this one,
    /// and only once Azure's model of the VM (one GET) still has the disk at that LUN, so a
    /// device that another disk's attach put there after this one's failed is not either.
    /// The operation is then still followed to its end (the queue's next change waits for
    /// it, as Azure updates a VM one request at a time); should it fail after the device
    /// appeared, the disk is gone from the VM again and the next step that reads it fails.
    public func attach(
        _ disk: ResourceID, caching: String = "None", timeout: Duration, deviceTimeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> AttachedBlockDevice {
        let devices = self.devices
        let queue = self.queue
        let (azure, vm) = (self.azure, self.vm)
        let acceptedAt = OneShot<Int?>()
        let finished = OneShot<Result<Int, any Error>>()
        // Opened once the device is there: until then the operation is polled sparingly.
        let deviceSeen = OneShot<Void>()
        let operation = Task {
            do {
                let lun = try await DataDiskPolling.$quietUntil.withValue(deviceSeen) {
                    try await queue.attach(
                        DataDiskAttachment(disk: disk, caching: caching), timeout: timeout,
                        onStarted: { handle in
                            try await onStarted(handle)
                            var watch: Int?
                            if let lun = handle.dataDiskLUNs?.first ?? nil {
                                do {
                                    if try await devices.device(lun: lun) == nil { watch = lun }
                                } catch {
                                    watch = nil  // cannot tell: the operation's way decides
                                }
                            }
                            await acceptedAt.set(watch)
                        })
                }
                await finished.set(.success(lun))
            } catch {
                await finished.set(.failure(error))
            }
            await acceptedAt.set(nil)
        }
        defer { Task { await deviceSeen.set(()) } }
        return try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: AttachedBlockDevice.self) { group in
                group.addTask {
                    let lun = try await finished.wait().get()
                    return try await devices.waitForDevice(lun: lun, timeout: deviceTimeout)
                }
                group.addTask {
                    if let lun = try await acceptedAt.wait(),
                        let device = try? await devices.waitForDevice(lun: lun, timeout: timeout + deviceTimeout),
                        try await Self.lists(disk, at: lun, on: vm, azure: azure)
                    {
                        await deviceSeen.set(())
                        return device
                    }
                    // Nothing to watch early, or no device showed: the operation's way decides.
                    _ = try await finished.wait().get()
                    throw CancellationError()
                }
                defer { group.cancelAll() }
                while true {
                    do {
                        guard let device = try await group.next() else { throw CancellationError() }
                        return device
                    } catch is CancellationError where !Task.isCancelled {
                        continue  // the early way stood down; the operation's way goes on
                    }
                }
            }
        } onCancel: {
            operation.cancel()
        }
    }

    /// Whether Azure's model of `vm` has `disk` at `lun` now: the check that a device which
    /// appeared at the LUN an attach was accepted at is that disk's. Without it, a batch
    /// that failed and was retried change by change could hand one disk's LUN (and device)
    /// to another while the first still watched it (found by issue 13's matrix).
    static func lists(_ disk: ResourceID, at lun: Int, on vm: ResourceID, azure: any AzureCompute) async throws
        -> Bool
    {
        try await azure.dataDisks(of: vm)?.contains { $0.lun == lun && !$0.toBeDetached && $0.isDisk(disk) } ?? false
    }

    /// Detaches `disk`; nothing happens when it is not attached. Throws `BuilderDiskError`
    /// when its device is still in use.
    ///
    /// While Azure detaches, its operation is polled sparingly until the device has gone
    /// from the LUN (`DataDiskPolling`): the detach is then done, and the next poll says so.
    @discardableResult
    public func detach(
        _ disk: ResourceID, timeout: Duration, deviceTimeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> Bool {
        let devices = self.devices
        let deviceGone = OneShot<Void>()
        let watchers = WatcherTasks()
        defer {
            Task {
                await deviceGone.set(())
                await watchers.cancelAll()
            }
        }
        let detached = try await DataDiskPolling.$quietUntil.withValue(deviceGone) {
            try await queue.detach(
                disk, timeout: timeout,
                onStarted: { handle in
                    try await onStarted(handle)
                    guard let lun = handle.dataDiskLUNs?.first ?? nil else {
                        await deviceGone.set(())
                        return
                    }
                    await watchers.add(
                        Task {
                            try? await devices.waitForRemoval(lun: lun, timeout: timeout + deviceTimeout)
                            await deviceGone.set(())
                        })
                })
        }
        guard let lun = detached else { return false }
        try await devices.waitForRemoval(lun: lun, timeout: deviceTimeout)
        return true
    }
}

/// Why a disk operation on the builder VM was refused.
public enum BuilderDiskError: Error, Sendable, Equatable, CustomStringConvertible {
    case stillInUse(disk: String, lun: Int, device: String)

    public var description: String {
        switch self {
        case .stillInUse(let disk, let lun, let device):
            "refusing to detach disk \(disk) (LUN \(lun)): \(device) is still in use (mounted, possibly in another mount namespace) — unmount it first; 'grep \(device) /proc/*/mountinfo' shows where"
        }
    }
}

/// The host-wide LUN lock as a `DataDiskLUNLock`: a file lock (flock) on
/// `/run/kiln/lun.lock` by default, so two Kiln processes on one VM never pick the same LUN.
/// Waiters show the holder's pid, host and start time when they give up.
public struct HostFileLUNLock: DataDiskLUNLock {
    public var path: String
    public var timeout: Duration

    public init(path: String = HostLUNLock.defaultPath, timeout: Duration = .seconds(300)) {
        self.path = path
        self.timeout = timeout
    }

    public func withLUNLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let lock = try await HostLUNLock.acquire(
            path: path, purpose: "choose a LUN and attach a disk", timeout: timeout)
        defer { lock.release() }
        return try await body()
    }
}

/// Data-disk limits of Azure VM sizes, for choosing a LUN before Azure would refuse one.
public enum VMSizeLimits {
    /// The most data disks a size takes: sizes follow 2 per vCPU up to 32 (M-series 64),
    /// read from the size name (`Standard_D4s_v5` → 4 vCPUs → 8). Unknown names get 64 and
    /// Azure's own refusal (`MaxDataDisksReached`-style errors) still applies.
    public static func maxDataDisks(forSize size: String?) -> Int {
        guard let size else { return 64 }
        let name = size.hasPrefix("Standard_") ? String(size.dropFirst("Standard_".count)) : size
        guard let family = name.first, family.isLetter else { return 64 }
        let digits = name.dropFirst().prefix(while: \.isNumber)
        guard let vcpus = Int(digits), vcpus > 0 else { return 64 }
        let cap = family == "M" ? 64 : 32
        return max(2, min(cap, vcpus * 2))
    }
}

/// Side tasks a wait started, cancelled together when it ends.
actor WatcherTasks {
    private var tasks: [Task<Void, Never>] = []
    func add(_ task: Task<Void, Never>) { tasks.append(task) }
    func cancelAll() {
        for task in tasks { task.cancel() }
        tasks.removeAll()
    }
}
