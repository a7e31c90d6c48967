import Foundation
import Logging

/// Virtual machines: GET, and data-disk attach/detach through PUT/PATCH (with ETag/If-Match)
/// or `attachDetachDataDisks`. Attachments to a builder VM go through the disk backend
/// when the operation completes (a timer completes it even if nobody polls, as packer
/// never polls the attach).
extension Emulator {
    static func builderVMBody(_ c: EmulatorConfiguration, vm index: Int = 0) -> JSON {
        let vm = c.builderVM(at: index)
        let id = c.builderVMID(at: index)
        let osDiskName = "\(vm.name)-osdisk"
        let rgBase = "/subscriptions/\(c.subscription)/resourceGroups/\(vm.resourceGroup)/providers"
        let first = c.platformImages.first
        var body: JSON = [
            "id": .string(id), "name": .string(vm.name), "type": "Microsoft.Compute/virtualMachines",
            "location": .string(c.location), "tags": [:], "etag": "\"1\"",
            "identity": [
                "type": "SystemAssigned", "principalId": .string(vm.identityObjectID), "tenantId": .string(c.tenant)
            ],
            "properties": [
                "vmId": .string(stableUUID(id.lowercased())),
                "hardwareProfile": ["vmSize": .string(vm.size)],
                "storageProfile": [
                    "imageReference": [
                        "publisher": .string(first?.publisher ?? "Canonical"),
                        "offer": .string(first?.offer ?? "ubuntu-24_04-lts"),
                        "sku": .string(first?.sku ?? "server"), "version": "latest",
                        "exactVersion": .string(first?.version ?? "")
                    ],
                    "osDisk": [
                        "osType": "Linux", "name": .string(osDiskName), "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": [
                            "storageAccountType": "Premium_LRS",
                            "id": .string("\(rgBase)/Microsoft.Compute/disks/\(osDiskName)")
                        ],
                        "deleteOption": "Delete", "diskSizeGB": 30
                    ],
                    "dataDisks": [], "diskControllerType": "SCSI"
                ],
                "osProfile": [
                    "computerName": .string(vm.name), "adminUsername": "azureuser",
                    "linuxConfiguration": ["disablePasswordAuthentication": true, "provisionVMAgent": true],
                    "secrets": [], "allowExtensionOperations": true, "requireGuestProvisionSignal": true
                ],
                "networkProfile": [
                    "networkInterfaces": [
                        ["id": .string("\(rgBase)/Microsoft.Network/networkInterfaces/\(vm.name)-nic")]
                    ]
                ],
                "provisioningState": "Succeeded",
                "timeCreated": .string(Timestamp.string(Date()))
            ]
        ]
        if !vm.zone.isEmpty { body["zones"] = [.string(vm.zone)] }
        return body
    }

    func etag(_ vmKey: String) -> String { "\"\(state.vmETags[vmKey] ?? 1)\"" }

    func bumpETag(_ vmKey: String) {
        let next = (state.vmETags[vmKey] ?? 1) + 1
        state.vmETags[vmKey] = next
        // Computed first: reading `state` inside the assignment would overlap the write access.
        let value = JSON.string("\"\(next)\"")
        state.resources[vmKey]?.body["etag"] = value
    }

    func virtualMachineRoutes(_ request: EmulatorRequest, id: String, failOperation: FaultRule?) async throws(ARMError)
        -> EmulatorResponse
    {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        let rg = id.components(separatedBy: "/")[4]
        switch request.method {
        case "GET":
            guard let vm = resource(key), vm.kind == .virtualMachine else {
                throw ARMError.notFound(type: "Microsoft.Compute/virtualMachines", name: name, resourceGroup: rg)
            }
            return .json(200, publicBody(vm, request), headers: [("ETag", etag(key))])
        case "PUT", "PATCH":
            return try await updateVM(
                request, key: key, id: id, name: name, rg: rg, isPatch: request.method == "PATCH",
                failOperation: failOperation)
        case "DELETE":
            return try await deleteResource(request, key: key, kind: .virtualMachine, failOperation: failOperation)
        default:
            throw methodNotAllowed(request)
        }
    }

    func checkPreconditions(_ request: EmulatorRequest, key: String, exists: Bool) throws(ARMError) {
        let current = etag(key)
        if let im = request.header("if-match") {
            let given = im.hasPrefix("W/") ? String(im.dropFirst(2)) : im
            guard exists, given == "*" || given == current || "\"\(given)\"" == current else {
                throw ARMError(
                    412, "PreconditionFailed",
                    "Etag provided in if-match header \(im) does not match etag \(exists ? current : "(none)") of resource."
                )
            }
        }
        if let inm = request.header("if-none-match") {
            guard inm == "*" else {
                throw ARMError(
                    400, "InvalidParameter", "Only '*' is supported in the If-None-Match header.",
                    target: "If-None-Match")
            }
            if exists {
                throw ARMError(412, "PreconditionFailed", "The resource already exists and If-None-Match: * was given.")
            }
        }
    }

    func updateVM(
        _ request: EmulatorRequest, key: String, id: String, name: String, rg: String, isPatch: Bool,
        failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let existing = resource(key)
        try checkPreconditions(request, key: key, exists: existing != nil)
        let body = try BodyReader.parse(request.body)
        let requested = try body.array("properties", "storageProfile", "dataDisks")
        let tags = try body.stringMap("tags")
        guard var vm = existing else {
            if isPatch {
                throw ARMError.notFound(type: "Microsoft.Compute/virtualMachines", name: name, resourceGroup: rg)
            }
            return try await createVM(request, key: key, id: id, name: name, body: body, failOperation: failOperation)
        }
        let current = vm.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []
        var plan = DataDiskPlan(list: current, attach: [], detach: [])
        if let requested {
            plan = try planDataDisks(vmKey: key, vm: vm, current: current, requested: requested)
        }
        vm.body.set(["properties", "storageProfile", "dataDisks"], .array(plan.list))
        if let tags { vm.body["tags"] = tags }
        vm.setProvisioningState("Updating")
        state.resources[key] = vm
        bumpETag(key)
        let op: OperationRecord
        if plan.attach.isEmpty && plan.detach.isEmpty {
            op = startOperation(
                kind: .virtualMachine, method: request.method, resourceID: vm.id, opKind: "vmUpdate", duration: 0,
                completion: .provision(resourceKey: key), failOperation: failOperation)
        } else {
            let d = max(plan.attach.isEmpty ? 0 : latency.attach, plan.detach.isEmpty ? 0 : latency.detach)
            op = startOperation(
                kind: .virtualMachine, method: request.method, resourceID: vm.id,
                opKind: plan.attach.isEmpty ? "detach" : "attach", duration: d,
                completion: .vmDisks(
                    vmKey: key, attach: plan.attach, detach: plan.detach, previousDataDisks: .array(current)),
                failOperation: failOperation)
        }
        let response = EmulatorResponse.json(
            200, state.resources[key]?.body ?? vm.body, headers: [("ETag", etag(key))] + lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    func createVM(
        _ request: EmulatorRequest, key: String, id: String, name: String, body: BodyReader, failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        guard let location = try body.string("location") else {
            throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
        }
        if let dd = try body.array("properties", "storageProfile", "dataDisks"), !dd.isEmpty {
            throw ARMError(
                400, "InvalidParameter",
                "The emulator creates VMs without data disks; attach them with a later PUT, PATCH or attachDetachDataDisks.",
                target: "dataDisks")
        }
        var vm = body.json
        vm["id"] = .string(id)
        vm["name"] = .string(name)
        vm["type"] = "Microsoft.Compute/virtualMachines"
        vm["location"] = .string(location)
        vm["identity"] = try ManagedIdentity.answer(body.json["identity"], resourceID: id, tenant: config.tenant)
        vm.set(["properties", "vmId"], .string(UUID().uuidString.lowercased()))
        vm.set(["properties", "storageProfile", "dataDisks"], [])
        vm.set(["properties", "provisioningState"], "Creating")
        vm.set(["properties", "timeCreated"], .string(Timestamp.string(Date())))
        // Write-only secrets (`x-ms-secret` in the spec) are never kept nor answered, as on Azure.
        if vm.at("properties", "osProfile") != nil {
            for secret in ["adminPassword", "customData"] { vm.set(["properties", "osProfile", secret], nil) }
        }
        state.vmETags[key] = 1
        vm["etag"] = .string(etag(key))
        state.resources[key] = StoredResource(kind: .virtualMachine, body: vm)
        let op = startOperation(
            kind: .virtualMachine, method: "PUT", resourceID: id, opKind: "vmCreate", duration: 0,
            completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(201, vm, headers: [("ETag", etag(key))] + lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    struct DataDiskPlan {
        var list: [JSON]
        var attach: [DiskSlot]
        var detach: [DiskSlot]
    }

    /// Disk keys with an attach or detach operation still running, and the VM attaching them.
    func pendingDiskOperations() -> (attaching: [String: String], detaching: Set<String>) {
        var attaching: [String: String] = [:]
        var detaching = Set<String>()
        for op in state.operations.values where !op.isDone {
            if case .vmDisks(let vmKey, let a, let d, _) = op.completion {
                for s in a { attaching[s.diskKey] = state.resources[vmKey]?.id ?? vmKey }
                for s in d { detaching.insert(s.diskKey) }
            }
        }
        return (attaching, detaching)
    }

    func pendingAttachOwner(diskKey: String) -> String? { pendingDiskOperations().attaching[diskKey] }

    /// `POST .../attachDetachDataDisks`: 202 with polling headers; the `Location` URL finally
    /// returns the VM's storage profile.
    func attachDetachDataDisks(_ request: EmulatorRequest, id: String, failOperation: FaultRule?) async throws(ARMError)
        -> EmulatorResponse
    {
        let key = Self.normalizeID(id)
        guard var vm = resource(key), vm.kind == .virtualMachine else {
            throw ARMError.notFound(
                type: "Microsoft.Compute/virtualMachines", name: String(id.split(separator: "/").last ?? ""),
                resourceGroup: id.components(separatedBy: "/")[4])
        }
        let body = try BodyReader.parse(request.body)
        let toAttach = try body.array("dataDisksToAttach") ?? []
        let toDetach = try body.array("dataDisksToDetach") ?? []
        guard !toAttach.isEmpty || !toDetach.isEmpty else {
            throw ARMError(
                400, "InvalidParameter",
                "At least one of 'dataDisksToAttach' or 'dataDisksToDetach' must be specified.",
                target: "dataDisksToAttach")
        }
        let current = vm.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []
        var requested = current
        for d in toDetach {
            guard let diskID = try BodyReader(json: d).string("diskId") else {
                throw ARMError.missing("dataDisksToDetach.diskId")
            }
            let k = Self.normalizeID(diskID)
            guard requested.contains(where: { $0.at("managedDisk", "id")?.stringValue.map(Self.normalizeID) == k })
            else {
                throw ARMError(
                    400, "InvalidParameter", "Disk '\(diskID)' is not attached to VM '\(vm.name)'.",
                    target: "dataDisksToDetach")
            }
            requested.removeAll { $0.at("managedDisk", "id")?.stringValue.map(Self.normalizeID) == k }
        }
        var used = Set(requested.compactMap { $0["lun"]?.intValue })
        for d in toAttach {
            let r = BodyReader(json: d)
            guard let diskID = try r.string("diskId") else { throw ARMError.missing("dataDisksToAttach.diskId") }
            var lun = try r.int("lun")
            if lun == nil {
                lun = (0...63).first { !used.contains($0) }
            }
            used.insert(lun ?? 0)
            var entry: JSON = ["lun": JSON(lun ?? 0), "createOption": "Attach", "managedDisk": ["id": .string(diskID)]]
            for k in ["caching", "deleteOption", "writeAcceleratorEnabled"] { if let v = d[k] { entry[k] = v } }
            requested.append(entry)
        }
        let plan = try planDataDisks(vmKey: key, vm: vm, current: current, requested: requested)
        vm.body.set(["properties", "storageProfile", "dataDisks"], .array(plan.list))
        vm.setProvisioningState("Updating")
        state.resources[key] = vm
        bumpETag(key)
        let d = max(plan.attach.isEmpty ? 0 : latency.attach, plan.detach.isEmpty ? 0 : latency.detach)
        let op = startOperation(
            kind: .virtualMachine, method: "POST", resourceID: vm.id, opKind: plan.attach.isEmpty ? "detach" : "attach",
            duration: d,
            completion: .vmDisks(
                vmKey: key, attach: plan.attach, detach: plan.detach, previousDataDisks: .array(current)),
            failOperation: failOperation)
        let response = EmulatorResponse.empty(202, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    /// Applies an attach/detach operation at completion; returns the operation's failure, if any.
    func completeVMDisks(vmKey: String, attach: [DiskSlot], detach: [DiskSlot], previous: JSON, failure: FailureInfo?)
        async -> FailureInfo?
    {
        // Only a live builder VM has devices; a crashed one keeps its disks in ARM only.
        let builder = builderVMIndex(ofKey: vmKey)
        let live = builder.map { !isCrashed($0) } ?? false
        guard let vmID = state.resources[vmKey]?.id else { return failure }
        if failure != nil {
            state.resources[vmKey]?.body.set(["properties", "storageProfile", "dataDisks"], previous)
            state.resources[vmKey]?.setProvisioningState("Failed")
            return failure
        }
        var failed: FailureInfo?
        var failedKeys = Set<String>()
        let now = JSON.string(Timestamp.string(Date()))
        for slot in detach {
            if let builder, let rec = state.attachments.first(where: { $0.diskKey == slot.diskKey && $0.vm == builder })
            {
                do {
                    hiddenDeviceLUNs.remove(rec.slot)
                    let outcome = try await backend.detach(lun: rec.lun, vm: rec.vm)
                    if let v = outcome.violation {
                        state.violations.append(
                            Violation(time: Date(), message: "detach of \(slot.diskID) from \(rec.slot): \(v)"))
                    }
                } catch {
                    state.violations.append(
                        Violation(
                            time: Date(), message: "detach of \(slot.diskID) from \(rec.slot) failed: \(error)"))
                }
                state.attachments.removeAll { $0.diskKey == slot.diskKey }
            }
            if var disk = state.resources[slot.diskKey] {
                disk.body["managedBy"] = nil
                disk.body.set(["properties", "diskState"], "Unattached")
                disk.body.set(["properties", "LastOwnershipUpdateTime"], now)
                state.resources[slot.diskKey] = disk
            }
        }
        for slot in attach {
            if let builder, live {
                do {
                    let device = try await backend.attach(id: slot.diskKey, lun: slot.lun, vm: builder)
                    if isCrashed(builder) {
                        // The VM died while its device was being made: a dead kernel keeps none.
                        _ = try? await backend.detach(lun: slot.lun, vm: builder)
                    } else {
                        state.attachments.append(
                            AttachmentRecord(
                                vm: builder, lun: slot.lun, diskKey: slot.diskKey, diskID: slot.diskID, device: device))
                        if hidesDevice(diskID: slot.diskID) { hideDevice(BuilderLUN(vm: builder, lun: slot.lun)) }
                    }
                } catch {
                    failed = FailureInfo(
                        code: "InternalExecutionError",
                        message: "Attaching disk '\(slot.diskID)' at LUN \(slot.lun) failed: \(error)", status: 500)
                    failedKeys.insert(slot.diskKey)
                    continue
                }
            }
            if var disk = state.resources[slot.diskKey] {
                disk.body["managedBy"] = .string(vmID)
                disk.body.set(["properties", "diskState"], "Attached")
                disk.body.set(["properties", "LastOwnershipUpdateTime"], now)
                state.resources[slot.diskKey] = disk
            }
        }
        let detached = Set(detach.map(\.diskKey))
        if var vm = state.resources[vmKey] {
            let list = (vm.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []).filter { e in
                guard let k = e.at("managedDisk", "id")?.stringValue.map(Self.normalizeID) else { return true }
                if failedKeys.contains(k) { return false }
                if detached.contains(k) && e["toBeDetached"]?.boolValue == true { return false }
                return true
            }
            vm.body.set(["properties", "storageProfile", "dataDisks"], .array(list))
            vm.setProvisioningState(failed == nil ? "Succeeded" : "Failed")
            state.resources[vmKey] = vm
        }
        return failed
    }

    /// After a restart, reconciles the kernel with the persisted state: adopts (or makes
    /// again) the devices of the disks each live builder VM lists, keeps those of disks whose
    /// detach was in flight (the operation, completed when due, frees them), leaves those of
    /// attaches in flight to their completion, and frees every other device and link, so
    /// nothing is left that no disk owns.
    func restoreAttachments() async {
        state.attachments.removeAll()
        let pending = pendingDiskOperations()
        let surviving = await backend.attachedBlobs()
        var owned = Set<BuilderLUN>()
        for (vm, vmKey) in builderVMKeys.enumerated() where !isCrashed(vm) {
            for e in state.resources[vmKey]?.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? [] {
                guard let id = e.at("managedDisk", "id")?.stringValue, let lun = e["lun"]?.intValue else { continue }
                let key = Self.normalizeID(id)
                guard pending.attaching[key] == nil, state.resources[key]?.body["managedBy"] != nil else { continue }
                let slot = BuilderLUN(vm: vm, lun: lun)
                if await adoptAttachment(key, id: id, at: slot) { owned.insert(slot) }
            }
        }
        for (slot, key) in surviving.sorted(by: { $0.key < $1.key }) where !owned.contains(slot) {
            if pending.detaching.contains(key), slot.vm < builderVMKeys.count, let id = state.resources[key]?.id {
                if await adoptAttachment(key, id: id, at: slot) { owned.insert(slot) }
            } else if pending.attaching[key] != nil {
                owned.insert(slot)  // its completion adopts the device
            } else {
                logger.warning(
                    "freeing a device no disk owns after a restart", metadata: ["slot": "\(slot)", "blob": "\(key)"])
                _ = try? await backend.detach(lun: slot.lun, vm: slot.vm)
            }
        }
        await backend.freeUnrecorded()
        markDirty()
    }

    /// Puts disk `key` back at `slot` (adopting its surviving device, or making one); false,
    /// with a violation recorded, when the backend cannot.
    private func adoptAttachment(_ key: String, id: String, at slot: BuilderLUN) async -> Bool {
        do {
            let device = try await backend.attach(id: key, lun: slot.lun, vm: slot.vm)
            state.attachments.append(
                AttachmentRecord(vm: slot.vm, lun: slot.lun, diskKey: key, diskID: id, device: device))
            return true
        } catch {
            state.violations.append(
                Violation(time: Date(), message: "re-attaching \(id) at \(slot) after a restart failed: \(error)"))
            return false
        }
    }
}
