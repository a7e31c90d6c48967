import Foundation
import Model

/// The twin's builder VM (data disks and their LUNs), platform images, listings and operations.
extension InMemoryCompute {
    // MARK: AzureCompute: virtual machines

    public func dataDisks(of vm: ResourceID) async throws -> [VMDataDisk]? {
        try record(.dataDisks, vm)
        return machines[Self.key(vm)]
    }

    public func updateDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        ensureNotInUse: @escaping @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void
    ) async throws -> [Int?] {
        try record(.updateDataDisks, vm)
        guard !changes.isEmpty else { return [] }
        return try await lock.withLUNLock {
            let (results, operation) = try await self.changeDataDisks(
                changes, on: vm, maxDataDisks: maxDataDisks,
                ensureNotInUse: ensureNotInUse)
            if let operation {
                var handle = operation.handle
                handle.dataDiskLUNs = results
                try await onStarted(handle)
                try await operation.waitUntilDone(timeout: timeout)
            }
            return results
        }
    }

    /// Chooses LUNs and starts the change (nil when there is nothing to do).
    func changeDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        ensureNotInUse: @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void
    ) async throws -> ([Int?], Operation?) {
        settle()
        let verb = changes.allSatisfy(\.isAttach) ? "attach data disk" : "attach and detach data disks"
        guard let dataDisks = machines[Self.key(vm)] else {
            throw ArmError(
                kind: .http, operation: verb, resource: vm.description, status: 404, code: "ResourceNotFound",
                message: "the virtual machine does not exist")
        }
        var lunOf: [ResourceID: Int] = [:]
        var detaching: [ResourceID] = []
        for change in changes {
            switch change {
            case .attach(let a):
                if let existing = dataDisks.first(where: { $0.isDisk(a.disk) && !$0.toBeDetached }) {
                    lunOf[a.disk] = existing.lun
                }
            case .detach(let disk, _):
                guard lunOf[disk] == nil, let attached = dataDisks.first(where: { $0.isDisk(disk) }) else { continue }
                try await ensureNotInUse(disk, attached.lun)
                lunOf[disk] = attached.lun
                detaching.append(disk)
            }
        }
        // `ensureNotInUse` may have let another change run meanwhile: read the VM again.
        settle()
        var used = Set((machines[Self.key(vm)] ?? dataDisks).map(\.lun))
        var attaching: [(disk: ResourceID, lun: Int)] = []
        for change in changes {
            guard case .attach(let a) = change, lunOf[a.disk] == nil else { continue }
            guard disks[Self.key(a.disk)] != nil else {
                throw Self.notFound(verb, a.disk, "the disk does not exist")
            }
            guard let lun = ArmClient.lowestFreeLUN(used: used, maxDataDisks: maxDataDisks) else {
                throw ArmError(
                    kind: .invalidRequest, operation: verb, resource: vm.description,
                    code: ArmClient.maxDataDisksReached,
                    message: "the VM has \(used.count) data disks and its size allows \(maxDataDisks)")
            }
            used.insert(lun)
            lunOf[a.disk] = lun
            attaching.append((a.disk, lun))
        }
        let results = changes.map { lunOf[$0.disk] }
        guard !attaching.isEmpty || !detaching.isEmpty else { return (results, nil) }
        let names =
            (attaching.map { "attach data disk \($0.disk.name) at LUN \($0.lun)" }
                + detaching.map { "detach data disk \($0.name)" })
        // Azure's model of the VM changes at once (the new list, `Updating`); the disks'
        // ownership flips when the operation ends (docs/emulator.md, "Attach, detach and
        // captures over time").
        let previous = machines[Self.key(vm)] ?? dataDisks
        let now =
            previous.filter { entry in !detaching.contains { entry.isDisk($0) } }
            + attaching.map { VMDataDisk(lun: $0.lun, diskID: $0.disk.description) }
        machines[Self.key(vm)] = now.sorted { $0.lun < $1.lun }
        let operation = start(
            .updateDataDisks, names.joined(separator: ", "), vm, method: .post,
            effect: .dataDisks(
                vm: Self.key(vm), attach: attaching.map(\.disk), detach: detaching, previous: previous))
        return (results, operation)
    }

    // MARK: AzureCompute: platform images and listings

    public func resolvePlatformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> PlatformImageURN {
        try record(.resolvePlatformImage, "\(urn) in \(location)")
        guard urn.isLatest else { return urn }
        guard
            let highest = ImageVersionOrder.highest(
                Array((platformImages[Self.platformKey(urn, location)] ?? [:]).keys))
        else {
            throw ArmError(
                kind: .invalidRequest, operation: "resolve latest version of platform image",
                resource: "\(urn) in \(location)",
                message: "the image has no versions in \(location)",
                hint: "check the publisher, offer, sku and location")
        }
        return urn.resolved(to: highest)
    }

    public func platformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> AzurePlatformImage? {
        try record(.platformImage, "\(urn) in \(location)")
        guard let version = urn.version else { return nil }
        return platformImages[Self.platformKey(urn, location)]?[version]
    }

    public func resources(subscription: String, resourceGroup: String) async throws -> [AzureTaggedResource] {
        try record(.resources, "/subscriptions/\(subscription)/resourceGroups/\(resourceGroup)")
        settle()
        return ids.sorted { $0.key < $1.key }.compactMap { key, id in
            guard id.segments.count == 1, id.subscription.lowercased() == subscription.lowercased(),
                id.resourceGroup.lowercased() == resourceGroup.lowercased(), let found = tags(of: key)
            else { return nil }
            return AzureTaggedResource(id: id.description, type: id.fullType, tags: found)
        }
    }

    // MARK: AzureCompute: operations

    public nonisolated func operation(resuming handle: OperationHandle) -> any AzureOperation {
        Operation(handle: handle, compute: self, number: Self.operationNumber(handle.asyncOperationURL))
    }

    public nonisolated func resourceURL(_ id: ResourceID) -> URL {
        URL(string: "memory://azure" + id.description.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!)!
    }
}
