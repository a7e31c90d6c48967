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

extension ArmClient {
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
        let luns = try await attachDataDisks([DataDiskAttachment(disk: disk, caching: caching)], to: vm, maxDataDisks: maxDataDisks,
                                             lock: lock, timeout: timeout, onStarted: onStarted)
        return luns[0]
    }

    /// Attaches managed disks to a VM in one request, each at the lowest LUN still free, and
    /// waits for Azure to finish. Returns their LUNs in the order given. Disks the VM already
    /// has are adopted at their LUN and left out of the request; when all are attached
    /// already, nothing is sent.
    ///
    /// LUN choice and the attach run inside `lock` (host-wide, held by the caller's
    /// implementation): Azure refuses a second update of a VM while one runs (409), so one
    /// request that carries several disks is how attaches to one VM go side by side.
    /// `onStarted` receives the operation handle as soon as Azure accepted the request, for
    /// the journal. Uses `POST attachDetachDataDisks` when the compute api-version has it,
    /// else a PATCH of the data disks with `If-Match` on the VM's ETag, re-reading the VM
    /// when the ETag went stale (412).
    public func attachDataDisks(
        _ disks: [DataDiskAttachment], to vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> [Int] {
        for d in disks { try require(d.disk, is: "Microsoft.Compute/disks", for: "attach data disk") }
        try require(vm, is: "Microsoft.Compute/virtualMachines", for: "attach data disk")
        guard !disks.isEmpty else { return [] }
        let names = disks.map(\.disk.name).joined(separator: ", ")
        let client = self
        return try await lock.withLUNLock {
            var staleETags = 0
            var conflicts = ConcurrentUpdatePauses(timeout: timeout)
            while true {
                let machine = try await client.requireVirtualMachine(vm, for: "attach data disk \(names)")
                let dataDisks = machine.properties?.storageProfile?.dataDisks ?? []
                var lunOf: [ResourceID: Int] = [:]
                for d in disks {
                    if let existing = dataDisks.first(where: { Self.sameID($0.managedDisk?.id, d.disk) && $0.toBeDetached != true }) {
                        lunOf[d.disk] = existing.lun
                    }
                }
                var used = Set(dataDisks.map(\.lun))
                let wanted = Set(disks.filter { lunOf[$0.disk] == nil }.map(\.disk)).count
                var newcomers: [(attachment: DataDiskAttachment, lun: Int)] = []
                for d in disks where lunOf[d.disk] == nil {
                    guard let lun = Self.lowestFreeLUN(used: used, maxDataDisks: maxDataDisks) else {
                        throw ArmError(kind: .invalidRequest, operation: "attach data disk \(names)", resource: vm.description,
                                       code: Self.maxDataDisksReached,
                                       message: "the VM has \(dataDisks.count) data disks, its size allows \(maxDataDisks), and \(wanted) more were asked for",
                                       hint: "detach a disk, use a VM size that allows more data disks, or lower --parallelism")
                    }
                    used.insert(lun)
                    lunOf[d.disk] = lun
                    newcomers.append((d, lun))
                }
                let results = disks.map { lunOf[$0.disk]! }
                guard !newcomers.isEmpty else { return results }
                let operationName = "attach data disk " + newcomers.map { "\($0.attachment.disk.name) at LUN \($0.lun)" }.joined(separator: ", ") + " to"
                let operation: LongRunningOperation
                if client.apiVersions.computeHasAttachDetachDataDisks {
                    let body = ArmAttachDetachDataDisksRequest(
                        dataDisksToAttach: newcomers.map { .init(diskId: $0.attachment.disk.description, lun: $0.lun, caching: $0.attachment.caching, deleteOption: "Detach") },
                        dataDisksToDetach: nil
                    )
                    do {
                        operation = try await client.beginAction(vm, action: "attachDetachDataDisks", body: body, operation: operationName)
                    } catch let error as ArmError where error.isConcurrentVMUpdate && conflicts.mayRetry {
                        try await conflicts.pause()
                        continue
                    }
                } else {
                    let kept = dataDisks.filter { $0.toBeDetached != true }
                    let added = newcomers.map { ArmVirtualMachine.DataDisk(lun: $0.lun, managedDiskID: $0.attachment.disk.description, caching: $0.attachment.caching) }
                    let patch = ArmVirtualMachineDataDisksPatch(dataDisks: kept + added)
                    do {
                        operation = try await client.beginPatch(vm, body: patch, headers: Self.ifMatch(machine.etag), operation: operationName)
                    } catch let error as ArmError where error.status == 412 && staleETags < 5 {
                        // Someone else changed the VM between our read and write: read again.
                        staleETags += 1
                        continue
                    } catch let error as ArmError where error.isConcurrentVMUpdate && conflicts.mayRetry {
                        try await conflicts.pause()
                        continue
                    }
                }
                try await onStarted(operation.handle)
                _ = try await operation.wait(timeout: timeout)
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
        ensureNotInUse: @escaping @Sendable (_ lun: Int) async throws -> Void = { _ in },
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws {
        try require(disk, is: "Microsoft.Compute/disks", for: "detach data disk")
        try require(vm, is: "Microsoft.Compute/virtualMachines", for: "detach data disk")
        var staleETags = 0
        var conflicts = ConcurrentUpdatePauses(timeout: timeout)
        while true {
            let machine = try await requireVirtualMachine(vm, for: "detach data disk \(disk.name)")
            let dataDisks = machine.properties?.storageProfile?.dataDisks ?? []
            guard let attached = dataDisks.first(where: { Self.sameID($0.managedDisk?.id, disk) }) else { return }
            try await ensureNotInUse(attached.lun)
            let operationName = "detach data disk \(disk.name) from"
            let operation: LongRunningOperation
            if apiVersions.computeHasAttachDetachDataDisks {
                let body = ArmAttachDetachDataDisksRequest(
                    dataDisksToAttach: nil,
                    dataDisksToDetach: [.init(diskId: disk.description, detachOption: force ? "ForceDetach" : nil)]
                )
                do {
                    operation = try await beginAction(vm, action: "attachDetachDataDisks", body: body, operation: operationName)
                } catch let error as ArmError where error.isConcurrentVMUpdate && conflicts.mayRetry {
                    try await conflicts.pause()
                    continue
                }
            } else {
                var remaining = dataDisks
                if force, let index = remaining.firstIndex(where: { Self.sameID($0.managedDisk?.id, disk) }) {
                    remaining[index].toBeDetached = true
                    remaining[index].detachOption = "ForceDetach"
                } else {
                    remaining.removeAll { Self.sameID($0.managedDisk?.id, disk) }
                }
                do {
                    operation = try await beginPatch(vm, body: ArmVirtualMachineDataDisksPatch(dataDisks: remaining), headers: Self.ifMatch(machine.etag), operation: operationName)
                } catch let error as ArmError where error.status == 412 && staleETags < 5 {
                    staleETags += 1
                    continue
                } catch let error as ArmError where error.isConcurrentVMUpdate && conflicts.mayRetry {
                    try await conflicts.pause()
                    continue
                }
            }
            try await onStarted(operation.handle)
            _ = try await operation.wait(timeout: timeout)
            return
        }
    }

    func requireVirtualMachine(_ vm: ResourceID, for operation: String) async throws -> ArmVirtualMachine {
        guard let machine = try await get(vm, as: ArmVirtualMachine.self, operation: operation) else {
            throw ArmError(kind: .http, operation: operation, resource: vm.description, status: 404, code: "ResourceNotFound",
                           message: "the virtual machine does not exist", hint: "check the builder VM's id (IMDS names it on Azure)")
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
    private let deadline: ContinuousClock.Instant
    private var next: Duration = .seconds(2)

    init(timeout: Duration) {
        deadline = ContinuousClock.now.advanced(by: timeout)
    }

    var mayRetry: Bool { ContinuousClock.now.advanced(by: next) < deadline }

    mutating func pause() async throws {
        try await Task.sleep(for: next)
        next = min(next * 2, .seconds(15))
    }
}

extension ArmError {
    /// Azure refused a VM update because another update of the VM is running.
    var isConcurrentVMUpdate: Bool { status == 409 && code?.lowercased() == "conflict" }
}
