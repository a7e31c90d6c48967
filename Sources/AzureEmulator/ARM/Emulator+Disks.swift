import Foundation

/// Managed disks and snapshots: create (Empty, Copy, FromImage), grow-only resize, SAS
/// access, delete. Blobs are created at request time (so a bad source fails the PUT, as
/// ARM validates synchronously); the operation's time decides when it reads Succeeded.
extension Emulator {
    static func validDiskName(_ n: String) -> Bool {
        !n.isEmpty && n.count <= 80
            && n.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
    }

    static func skuTier(_ sku: String) -> String { sku.lowercased().hasPrefix("premium") ? "Premium" : "Standard" }

    static func premiumTier(sizeGB: Int) -> String {
        let tiers: [(Int, String)] = [
            (4, "P1"), (8, "P2"), (16, "P3"), (32, "P4"), (64, "P6"), (128, "P10"), (256, "P15"),
            (512, "P20"), (1024, "P30"), (2048, "P40"), (4096, "P50"), (8192, "P60"), (16384, "P70")
        ]
        return tiers.first { sizeGB <= $0.0 }?.1 ?? "P80"
    }

    func backendError(_ what: String, _ error: any Error) -> ARMError {
        ARMError(500, "InternalExecutionError", "The emulator's disk backend failed to \(what): \(error)")
    }

    func finishIfInstant(_ op: OperationRecord) async {
        // An attach/detach that must wait for an earlier one on the same disk or LUN (still
        // completing while this request re-entered the actor) is left to advance().
        guard op.duration <= 0, let current = state.operations[op.id], !current.isDone, !current.completing,
            !waitsForEarlierDiskOperation(current)
        else {
            return
        }
        state.operations[op.id]?.completing = true
        await complete(op.id)
    }

    func diskLike(
        _ request: EmulatorRequest, kind: ResourceKind, id: String, resourceGroup: String, failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        switch request.method {
        case "GET":
            guard let r = resource(key), r.kind == kind else {
                throw ARMError.notFound(type: kind.armType, name: name, resourceGroup: resourceGroup)
            }
            return .json(200, publicBody(r, request))
        case "PUT":
            guard Self.validDiskName(name) else {
                throw ARMError(
                    400, "InvalidParameter",
                    "The name '\(name)' is invalid: use up to 80 letters, digits, '_', '-' and '.'.",
                    target: kind == .disk ? "diskName" : "snapshotName")
            }
            let body = try BodyReader.parse(request.body)
            if let existing = resource(key), existing.kind == kind {
                return try await updateDiskLike(
                    request, key: key, existing: existing, body: body, isPatch: false, failOperation: failOperation)
            }
            return try await createDiskLike(
                request, kind: kind, key: key, id: id, name: name, body: body, failOperation: failOperation)
        case "PATCH":
            guard let existing = resource(key), existing.kind == kind else {
                throw ARMError.notFound(type: kind.armType, name: name, resourceGroup: resourceGroup)
            }
            let body = try BodyReader.parse(request.body)
            return try await updateDiskLike(
                request, key: key, existing: existing, body: body, isPatch: true, failOperation: failOperation)
        case "DELETE":
            return try await deleteResource(request, key: key, kind: kind, failOperation: failOperation)
        default:
            throw methodNotAllowed(request)
        }
    }

    func createDiskLike(
        _ request: EmulatorRequest, kind: ResourceKind, key: String, id: String, name: String, body: BodyReader,
        failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        guard let location = try body.string("location") else {
            throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
        }
        let tags = try body.stringMap("tags")
        let zones = try body.array("zones")
        _ = try body.object("properties")
        guard try body.object("properties", "creationData") != nil else { throw ARMError.missing("creationData") }
        guard let createOption = try body.string("properties", "creationData", "createOption") else {
            throw ARMError.missing("creationData.createOption")
        }
        let requestedSize = try body.int("properties", "diskSizeGB")
        if let s = requestedSize, s < 1 || s > 32767 {
            throw ARMError(
                400, "InvalidParameter",
                "The value \(s) of parameter 'diskSizeGB' is out of range; it must be between 1 and 32767.",
                target: "diskSizeGB")
        }
        var creationData = body.value(["properties", "creationData"]) ?? [:]
        let source: DiskSource
        switch createOption.lowercased() {
        case "empty":
            guard kind == .disk else {
                throw ARMError(
                    400, "InvalidParameter", "A snapshot cannot be created with createOption 'Empty'.",
                    target: "creationData.createOption")
            }
            guard let s = requestedSize else { throw ARMError.missing("diskSizeGB") }
            source = .empty(s)
        case "copy":
            guard let src = try body.string("properties", "creationData", "sourceResourceId") else {
                throw ARMError.missing("creationData.sourceResourceId")
            }
            guard let (srcKey, srcRes) = resolve(src, kinds: [.disk, .snapshot]) else {
                throw ARMError(
                    404, "NotFound",
                    "Source resource '\(src)' was not found (a disk or snapshot is required for createOption Copy).",
                    target: "sourceResourceId")
            }
            let uid = srcRes.body.at("properties", "uniqueId")?.stringValue
            source = .blob(srcKey, inherit: srcRes.body["properties"], sourceUniqueID: uid)
        case "fromimage":
            guard kind == .disk else {
                throw ARMError(
                    400, "InvalidParameter", "A snapshot cannot be created with createOption 'FromImage'.",
                    target: "creationData.createOption")
            }
            source = try imageSource(body)
        default:
            throw ARMError(
                400, "InvalidParameter",
                "createOption '\(createOption)' is not supported by this emulator (supported: Empty, Copy, FromImage).",
                target: "creationData.createOption")
        }
        if case .blob(_, _, let uid) = source, let uid { creationData["sourceUniqueId"] = .string(uid) }
        try await refuseSmallerThanSource(source, requestedSize: requestedSize)

        let incremental = kind == .snapshot ? (try body.bool("properties", "incremental") ?? false) : false
        let skuName = try body.string("sku", "name") ?? "Standard_LRS"
        var props = body.value(["properties"]) ?? [:]
        props["creationData"] = creationData
        props["uniqueId"] = .string(UUID().uuidString.lowercased())
        props["timeCreated"] = .string(Timestamp.string(Date()))
        props["provisioningState"] = "Updating"
        props["diskState"] = "Unattached"
        if props["encryption"] == nil { props["encryption"] = ["type": "EncryptionAtRestWithPlatformKey"] }
        if props["networkAccessPolicy"] == nil { props["networkAccessPolicy"] = "AllowAll" }
        if props["publicNetworkAccess"] == nil { props["publicNetworkAccess"] = "Enabled" }
        switch source {
        case .blob(_, let inherit, _):
            for k in ["osType", "hyperVGeneration", "supportedCapabilities", "purchasePlan"] where props[k] == nil {
                if let v = inherit?[k] { props[k] = v }
            }
        case .platform(let img):
            if props["osType"] == nil { props["osType"] = .string(img.osType) }
            if props["hyperVGeneration"] == nil { props["hyperVGeneration"] = .string(img.hyperVGeneration) }
            if props["supportedCapabilities"] == nil {
                props["supportedCapabilities"] = [
                    "acceleratedNetwork": true, "architecture": .string(img.architecture.rawValue)
                ]
            }
        case .empty: break
        }
        try checkDiskSecurity(body, createOption: createOption, source: source, props: &props)
        if kind == .snapshot {
            props["incremental"] = .bool(incremental)
            if incremental, case .blob(let srcKey, _, _) = source {
                props["incrementalSnapshotFamilyId"] = .string(Self.stableUUID(srcKey))
            }
        }
        var res: JSON = [
            "id": .string(id), "name": .string(name), "type": .string(kind.armType), "location": .string(location),
            "sku": ["name": .string(skuName), "tier": .string(Self.skuTier(skuName))]
        ]
        if let tags { res["tags"] = tags }
        if let zones { res["zones"] = .array(zones) }
        if let edge = try body.object("extendedLocation") {
            let reader = BodyReader(json: edge)
            guard try reader.string("type")?.lowercased() == "edgezone", try reader.string("name") != nil else {
                throw ARMError(
                    400, "InvalidParameter",
                    "extendedLocation needs type 'EdgeZone' and the name of an edge zone.", target: "extendedLocation")
            }
            res["extendedLocation"] = edge
        }
        res["properties"] = props

        // Reserve the name before the backend call, which may take a while.
        state.resources[key] = StoredResource(kind: kind, body: res, blobs: [key])
        markDirty()
        do {
            switch source {
            case .empty(let size): try await backend.createEmpty(id: key, sizeGB: size)
            case .blob(let src, _, _): try await captureBlob(from: src, to: key, sizeGB: requestedSize, into: id)
            // The disk is as large as the image says (the catalog's size; Azure's 30 GB
            // Ubuntu images), or as asked when larger, whatever the size of the file that
            // stands in for the image here.
            case .platform(let img):
                try await backend.createFromPlatformImage(img.key, to: key, sizeGB: requestedSize ?? img.sizeGB)
            }
        } catch {
            state.resources[key] = nil
            throw backendError("create \(id)", error)
        }
        let size = (try? await backend.sizeGB(id: key)) ?? requestedSize ?? 0
        guard var stored = state.resources[key] else {
            throw ARMError(409, "Conflict", "The request failed due to conflict with a concurrent request.")
        }
        stored.body.set(["properties", "diskSizeGB"], JSON(size))
        stored.body.set(["properties", "diskSizeBytes"], JSON(size * 1_073_741_824))
        if kind == .disk, skuName.lowercased().hasPrefix("premium"), stored.body.at("properties", "tier") == nil {
            stored.body.set(["properties", "tier"], .string(Self.premiumTier(sizeGB: size)))
        }
        state.resources[key] = stored
        let latencySeconds = kind == .disk ? latency.diskCreate : latency.snapshot
        let op = startOperation(
            kind: kind, method: "PUT", resourceID: stored.id, opKind: kind == .disk ? "diskCreate" : "snapshot",
            duration: latencySeconds, completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(202, stored.body, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    /// A UUID derived from a string, so that all incremental snapshots of one disk share a family id.
    static func stableUUID(_ s: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for (i, b) in s.utf8.enumerated() { bytes[i % 16] = bytes[i % 16] &* 31 &+ b }
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return
            "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))"
    }

    func updateDiskLike(
        _ request: EmulatorRequest, key: String, existing: StoredResource, body: BodyReader, isPatch: Bool,
        failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        var r = existing
        if !isPatch {
            if let loc = try body.string("location"),
                Self.normalizeLocation(loc) != Self.normalizeLocation(r.body["location"]?.stringValue ?? "")
            {
                throw ARMError(
                    409, "InvalidResourceLocation",
                    "The resource '\(r.name)' already exists in location '\(r.body["location"]?.stringValue ?? "")' in resource group. A resource with the same name cannot be created in location '\(loc)'. Please select a new resource name."
                )
            }
            if let opt = try body.string("properties", "creationData", "createOption"),
                let old = r.body.at("properties", "creationData", "createOption")?.stringValue,
                opt.lowercased() != old.lowercased()
            {
                throw ARMError(
                    409, "PropertyChangeNotAllowed", "Changing property 'creationData.createOption' is not allowed.",
                    target: "creationData.createOption")
            }
        }
        if let newSize = try body.int("properties", "diskSizeGB") {
            let current = r.body.at("properties", "diskSizeGB")?.intValue ?? 0
            if newSize < current {
                throw ARMError(
                    409, "OperationNotAllowed",
                    "Disk '\(r.name)' cannot be resized from \(current) GB to \(newSize) GB: a disk can only grow.",
                    target: "diskSizeGB")
            }
            if newSize > current {
                if r.kind == .disk, let vm = r.body["managedBy"]?.stringValue {
                    throw ARMError(
                        409, "Conflict",
                        "Disk resizing is allowed only when creating a VM or when the VM is deallocated. Disk '\(r.name)' is attached to VM '\(vm)'."
                    )
                }
                do { try await backend.resize(id: key, sizeGB: newSize) } catch {
                    throw backendError("resize \(r.id)", error)
                }
                r = state.resources[key] ?? r
                r.body.set(["properties", "diskSizeGB"], JSON(newSize))
                r.body.set(["properties", "diskSizeBytes"], JSON(newSize * 1_073_741_824))
                if Self.skuTier(r.body.at("sku", "name")?.stringValue ?? "") == "Premium" {
                    r.body.set(["properties", "tier"], .string(Self.premiumTier(sizeGB: newSize)))
                }
            }
        }
        try refuseSecurityChange(body, existing: r)
        if let tags = try body.stringMap("tags") { r.body["tags"] = tags }
        if let sku = try body.string("sku", "name") {
            r.body["sku"] = ["name": .string(sku), "tier": .string(Self.skuTier(sku))]
        }
        let readOnly: Set<String> = [
            "creationData", "diskSizeGB", "diskSizeBytes", "uniqueId", "timeCreated", "provisioningState",
            "diskState", "LastOwnershipUpdateTime", "incrementalSnapshotFamilyId"
        ]
        if let props = try body.object("properties")?.objectValue {
            for (k, v) in props where !readOnly.contains(k) { r.body.set(["properties", k], v) }
        }
        if try body.object("properties", "encryption") != nil {
            var props = r.body["properties"] ?? [:]
            try checkDiskEncryption(body, props: &props)
            r.body["properties"] = props
        }
        r.setProvisioningState("Updating")
        state.resources[key] = r
        let op = startOperation(
            kind: r.kind, method: isPatch ? "PATCH" : "PUT", resourceID: r.id, opKind: "diskUpdate",
            duration: latency.diskUpdate, completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(isPatch ? 202 : 200, r.body, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    func diskAccess(_ request: EmulatorRequest, kind: ResourceKind, id: String, grant: Bool, failOperation: FaultRule?)
        async throws(ARMError) -> EmulatorResponse
    {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        guard let r = resource(key), r.kind == kind else {
            throw ARMError.notFound(type: kind.armType, name: name, resourceGroup: id.components(separatedBy: "/")[4])
        }
        var result: JSON = [:]
        if grant {
            if let vm = r.body["managedBy"]?.stringValue {
                throw ARMError(
                    409, "Conflict",
                    "Access not permitted because disk '\(r.name)' is currently attached to running VM '\(vm)'.")
            }
            let body = request.body.isEmpty ? BodyReader(json: [:]) : try BodyReader.parse(request.body)
            _ = try body.string("access")
            _ = try body.int("durationInSeconds")
            result = [
                "accessSAS": .string(
                    "https://md-\(Self.stableUUID(key).prefix(12)).blob.core.windows.net/\(UUID().uuidString.lowercased())/abcd?sv=2018-03-28&sr=b&si=emulator&sig=emulator"
                )
            ]
        }
        var op = startOperation(
            kind: kind, method: "POST", resourceID: r.id, opKind: "access", duration: latency.access,
            completion: .access(resourceKey: key, grant: grant), failOperation: failOperation)
        op.result = result
        state.operations[op.id] = op
        let response = EmulatorResponse.empty(202, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    /// DELETE of any kind: 204 when missing, 202 + polling headers otherwise.
    func deleteResource(_ request: EmulatorRequest, key: String, kind: ResourceKind, failOperation: FaultRule?)
        async throws(ARMError) -> EmulatorResponse
    {
        guard let r = resource(key), r.kind == kind else { return .empty(204) }
        switch kind {
        case .disk:
            if let vm = r.body["managedBy"]?.stringValue ?? pendingAttachOwner(diskKey: key) {
                throw ARMError(409, "OperationNotAllowed", "Disk \(r.name) is attached to VM \(vm).")
            }
        case .virtualMachine:
            if builderVMIndex(ofKey: key) != nil {
                throw ARMError(409, "OperationNotAllowed", "The emulator's builder VM '\(r.name)' cannot be deleted.")
            }
            if !(r.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []).isEmpty {
                throw ARMError(
                    409, "OperationNotAllowed", "VM '\(r.name)' still has data disks attached; detach them first.")
            }
        case .gallery, .galleryImage:
            if state.resources.keys.contains(where: { $0.hasPrefix(key + "/") }) {
                throw ARMError(
                    409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.")
            }
        default: break
        }
        if [.gallery, .galleryImage, .galleryImageVersion].contains(kind) {
            var copy = r
            copy.setProvisioningState("Deleting")
            state.resources[key] = copy
        }
        let op = startOperation(
            kind: kind, method: "DELETE", resourceID: r.id, opKind: "delete", duration: latency.delete,
            completion: .delete(resourceKey: key), failOperation: failOperation)
        await finishIfInstant(op)
        return .empty(202, headers: lroHeaders(op, request))
    }
}

extension Emulator {
    /// Copies a blob for a capture: a disk or snapshot copied from a disk, an image, a
    /// gallery version. Azure captures an attached disk as it is, crash-consistent (see
    /// docs/emulator.md "Captures from attached disks"), so the emulator allows it; but a
    /// disk whose file system is still mounted on the builder VM is recorded as a violation,
    /// since a client capturing it is copying a file system in use.
    func captureBlob(from src: String, to dst: String, sizeGB: Int?, into what: String) async throws {
        if let busy = await backend.inUse(id: src) {
            state.violations.append(
                Violation(time: Date(), message: "\(what) was made from \(src) while it was in use: \(busy)"))
            markDirty()
        }
        try await backend.copy(from: src, to: dst, sizeGB: sizeGB)
    }
}
