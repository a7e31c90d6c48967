import Foundation
import Model

/// A managed disk to attach to a VM, and its host caching (`None`, `ReadOnly`, `ReadWrite`).
public struct DataDiskAttachment: Sendable, Hashable {
    public var disk: ResourceID
    public var caching: String

    public init(disk: ResourceID, caching: String = "None") {
        self.disk = disk
        self.caching = caching
    }
}

/// One change to a VM's data disks: attach a managed disk, or detach one (`force`:
/// `ForceDetach`, the last resort for a stuck detach).
public enum DataDiskChange: Sendable, Hashable {
    case attach(DataDiskAttachment)
    case detach(ResourceID, force: Bool = false)

    public var disk: ResourceID {
        switch self {
        case .attach(let a): a.disk
        case .detach(let disk, _): disk
        }
    }

    public var isAttach: Bool {
        if case .attach = self { true } else { false }
    }
}

extension ArmClient {
    /// The LUN `updateDataDisks` gave an attach: it gives every attach one, so a missing
    /// one is a bug, said as such rather than passed on as a LUN that does not exist.
    public static func attachedLUN(_ lun: Int?, of disk: ResourceID) throws -> Int {
        guard let lun else {
            throw ArmError(
                kind: .invalidRequest, operation: "attach data disk \(disk.name)", resource: disk.description,
                message: "no LUN came back for the attach; this is a bug in kiln")
        }
        return lun
    }

    /// The error code of an attach refused because the VM has no free LUN within its limit.
    public static let maxDataDisksReached = "MaxDataDisksReached"

    /// The lowest LUN (from 0, which is valid) not in `used`, or nil when the VM already has
    /// `maxDataDisks` data disks. LUNs run 0...63.
    public static func lowestFreeLUN(used: Set<Int>, maxDataDisks: Int) -> Int? {
        guard used.count < maxDataDisks else { return nil }
        return (0..<64).first { !used.contains($0) }
    }

    /// Attaches a managed disk to a VM at the lowest free LUN and waits for Azure to finish.
    /// Returns the LUN. If the disk is already attached to the VM, returns its LUN without
    /// a call (so a re-run after a crash adopts the attachment). See `attachDataDisks`.
    public func attachDataDisk(
        _ disk: ResourceID, to vm: ResourceID, maxDataDisks: Int, caching: String = "None",
        lock: any DataDiskLUNLock, timeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> Int {
        let luns = try await attachDataDisks(
            [DataDiskAttachment(disk: disk, caching: caching)], to: vm, maxDataDisks: maxDataDisks,
            lock: lock, timeout: timeout, onStarted: onStarted)
        return luns[0]
    }

    /// Attaches managed disks to a VM in one request, each at the lowest LUN still free, and
    /// waits for Azure to finish. Returns their LUNs in the order given. See `updateDataDisks`.
    public func attachDataDisks(
        _ disks: [DataDiskAttachment], to vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> [Int] {
        let luns = try await updateDataDisks(
            disks.map { .attach($0) }, on: vm, maxDataDisks: maxDataDisks, lock: lock,
            timeout: timeout, onStarted: onStarted)
        return try zip(disks, luns).map { try Self.attachedLUN($1, of: $0.disk) }
    }

    /// Attaches and detaches managed disks of a VM in one request and waits for Azure to
    /// finish. Returns, per change in the order given, a LUN: where the disk is attached
    /// now, or where a detached disk was (nil: it was not attached, so nothing was sent for
    /// it). A disk to attach that the VM already has is adopted at its LUN (so a re-run
    /// after a crash adopts the attachment); when nothing is left to do, nothing is sent.
    ///
    /// Each new disk gets the lowest LUN that is free (0 included) and not being detached in
    /// the same request, within `maxDataDisks`. `ensureNotInUse` runs for each disk to
    /// detach, once it is known to be attached at `lun`, before anything is sent; it throws
    /// to refuse (the device layer checks that nothing on the device is still mounted), and
    /// its error is passed through unchanged.
    ///
    /// All of it runs inside `lock` (host-wide, held by the caller's implementation): Azure
    /// runs one update of a VM at a time, so one request carrying several disks is how
    /// changes to one VM go side by side, and two Kiln processes never pick the same LUN. A
    /// `409 Conflict` for a concurrent update (another process, another client) is waited
    /// out (`ConcurrentUpdatePauses`). `onStarted` receives the operation handle as soon as
    /// Azure accepted the request, for the journal. Uses `POST attachDetachDataDisks` when
    /// the compute api-version has it, else a PATCH of the data disks with `If-Match` on the
    /// VM's ETag, re-reading the VM when the ETag went stale (412).
    public func updateDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        ensureNotInUse: @escaping @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void = { _, _ in },
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> [Int?] {
        for c in changes {
            try require(
                c.disk, is: "Microsoft.Compute/disks", for: c.isAttach ? "attach data disk" : "detach data disk")
        }
        try require(vm, is: "Microsoft.Compute/virtualMachines", for: "attach or detach data disks")
        guard !changes.isEmpty else { return [] }
        let verb =
            changes.allSatisfy(\.isAttach)
            ? "attach data disk"
            : changes.contains(where: \.isAttach) ? "attach and detach data disks" : "detach data disk"
        let names = changes.map(\.disk.name).joined(separator: ", ")
        let client = self
        return try await lock.withLUNLock {
            var staleETags = 0
            var conflicts = ConcurrentUpdatePauses(timeout: timeout, clock: client.clock)
            while true {
                let machine = try await client.requireVirtualMachine(vm, for: "\(verb) \(names)")
                let dataDisks = machine.properties?.storageProfile?.dataDisks ?? []
                var lunOf: [ResourceID: Int] = [:]
                var detaching: [(disk: ResourceID, force: Bool, lun: Int)] = []
                for c in changes {
                    switch c {
                    case .attach(let a):
                        if let existing = dataDisks.first(where: {
                            Self.sameID($0.managedDisk?.id, a.disk) && $0.toBeDetached != true
                        }) {
                            lunOf[a.disk] = existing.lun
                        }
                    case .detach(let disk, let force):
                        guard lunOf[disk] == nil,
                            let attached = dataDisks.first(where: { Self.sameID($0.managedDisk?.id, disk) })
                        else { continue }
                        try await ensureNotInUse(disk, attached.lun)
                        lunOf[disk] = attached.lun
                        detaching.append((disk, force, attached.lun))
                    }
                }
                var used = Set(dataDisks.map(\.lun))
                let attaches = changes.compactMap { c -> DataDiskAttachment? in
                    if case .attach(let a) = c { a } else { nil }
                }
                let wanted = Set(attaches.filter { lunOf[$0.disk] == nil }.map(\.disk)).count
                var newcomers: [(attachment: DataDiskAttachment, lun: Int)] = []
                for a in attaches where lunOf[a.disk] == nil {
                    guard let lun = Self.lowestFreeLUN(used: used, maxDataDisks: maxDataDisks) else {
                        throw ArmError(
                            kind: .invalidRequest, operation: "\(verb) \(names)", resource: vm.description,
                            code: Self.maxDataDisksReached,
                            message:
                                "the VM has \(dataDisks.count) data disks, its size allows \(maxDataDisks), and \(wanted) more were asked for",
                            hint: "detach a disk, use a VM size that allows more data disks, or lower --parallelism")
                    }
                    used.insert(lun)
                    lunOf[a.disk] = lun
                    newcomers.append((a, lun))
                }
                let results = changes.map { lunOf[$0.disk] }
                guard !newcomers.isEmpty || !detaching.isEmpty else { return results }
                let operationName =
                    (newcomers.map { "attach data disk \($0.attachment.disk.name) at LUN \($0.lun)" }
                    + detaching.map { "detach data disk \($0.disk.name)" }).joined(separator: ", ")
                    + (detaching.isEmpty ? " to" : newcomers.isEmpty ? " from" : " on")
                let operation: LongRunningOperation
                do {
                    if client.apiVersions.computeHasAttachDetachDataDisks {
                        let body = ArmAttachDetachDataDisksRequest(
                            dataDisksToAttach: newcomers.isEmpty
                                ? nil
                                : newcomers.map {
                                    .init(
                                        diskId: $0.attachment.disk.description, lun: $0.lun,
                                        caching: $0.attachment.caching, deleteOption: "Detach")
                                },
                            dataDisksToDetach: detaching.isEmpty
                                ? nil
                                : detaching.map {
                                    .init(diskId: $0.disk.description, detachOption: $0.force ? "ForceDetach" : nil)
                                }
                        )
                        operation = try await client.beginAction(
                            vm, action: "attachDetachDataDisks", body: body, operation: operationName)
                    } else {
                        // Entries marked toBeDetached go either way (kept: still to detach;
                        // left out: detached), as the VM's own PATCH semantics allow.
                        var remaining = detaching.isEmpty ? dataDisks.filter { $0.toBeDetached != true } : dataDisks
                        for d in detaching {
                            if d.force,
                                let index = remaining.firstIndex(where: { Self.sameID($0.managedDisk?.id, d.disk) })
                            {
                                remaining[index].toBeDetached = true
                                remaining[index].detachOption = "ForceDetach"
                            } else {
                                remaining.removeAll { Self.sameID($0.managedDisk?.id, d.disk) }
                            }
                        }
                        let added = newcomers.map {
                            ArmVirtualMachine.DataDisk(
                                lun: $0.lun, managedDiskID: $0.attachment.disk.description,
                                caching: $0.attachment.caching)
                        }
                        operation = try await client.beginPatch(
                            vm, body: ArmVirtualMachineDataDisksPatch(dataDisks: remaining + added),
                            headers: Self.ifMatch(machine.etag), operation: operationName)
                    }
                } catch let error as ArmError where error.status == 412 && staleETags < 5 {
                    // Someone else changed the VM between our read and write: read again.
                    staleETags += 1
                    continue
                } catch let error as ArmError where error.isConcurrentVMUpdate && conflicts.mayRetry {
                    try await conflicts.pause()
                    continue
                }
                var handle = operation.handle
                handle.dataDiskLUNs = results
                try await onStarted(handle)
                _ = try await operation.wait(timeout: timeout, result: false, quietUntil: DataDiskPolling.quietUntil)
                return results
            }
        }
    }

    /// Detaches a managed disk from a VM and waits for Azure to finish; a disk that is not
    /// attached is left alone. `force` asks for `ForceDetach` (last resort for a stuck detach).
    ///
    /// `ensureNotInUse` runs before the detach request is sent, once the disk is known to be
    /// attached at `lun`; it throws to refuse the detach (the device layer checks that
    /// nothing on the device is still mounted). Its error is passed through unchanged.
    public func detachDataDisk(
        _ disk: ResourceID, from vm: ResourceID, force: Bool = false, timeout: Duration,
        lock: any DataDiskLUNLock = InProcessLUNLock(),
        ensureNotInUse: @escaping @Sendable (_ lun: Int) async throws -> Void = { _ in },
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws {
        // The limit on data disks does not matter to a detach.
        _ = try await updateDataDisks(
            [.detach(disk, force: force)], on: vm, maxDataDisks: 64, lock: lock, timeout: timeout,
            ensureNotInUse: { _, lun in try await ensureNotInUse(lun) }, onStarted: onStarted)
    }

    func requireVirtualMachine(_ vm: ResourceID, for operation: String) async throws -> ArmVirtualMachine {
        guard let machine = try await get(vm, as: ArmVirtualMachine.self, operation: operation) else {
            throw ArmError(
                kind: .http, operation: operation, resource: vm.description, status: 404, code: "ResourceNotFound",
                message: "the virtual machine does not exist",
                hint: "check the builder VM's id (IMDS names it on Azure)")
        }
        return machine
    }

    static func ifMatch(_ etag: String?) -> AzureHTTPHeaders {
        guard let etag, !etag.isEmpty else { return [:] }
        return ["If-Match": etag]
    }

    /// ARM ids compare case-insensitively (and sometimes lack the leading slash).
    static func sameID(_ text: String?, _ id: ResourceID) -> Bool {
        guard let text, let parsed = try? ResourceID(parsing: text) else { return false }
        return parsed == id
    }
}

/// Azure runs one update of a VM at a time and answers another with `409 Conflict` ("The
/// request failed due to conflict with a concurrent request"), for instance when another
/// Kiln process (or this one's detach) updates the builder VM at the same moment. Such a
/// request is sent again after a pause (2 s, doubling up to 15 s) with the VM read afresh,
/// for as long as the operation's own timeout allows.
struct ConcurrentUpdatePauses {
    private let timeout: Duration
    private let clock: any Clock<Duration>
    private let elapsed: @Sendable () -> Duration
    private var next: Duration = .seconds(2)

    init(timeout: Duration, clock: any Clock<Duration>) {
        self.timeout = timeout
        self.clock = clock
        elapsed = stopwatch(clock)
    }

    var mayRetry: Bool { elapsed() + next < timeout }

    mutating func pause() async throws {
        try await clock.sleep(for: next)
        next = min(next * 2, .seconds(15))
    }
}

extension ArmError {
    /// Azure refused a VM update because another update of the VM is running.
    var isConcurrentVMUpdate: Bool { status == 409 && code?.lowercased() == "conflict" }
}
