import Foundation

/// Disk encryption sets (`Microsoft.Compute/diskEncryptionSets`, DiskRP): served so that
/// disks, snapshots, images and gallery versions can name one, and a name that does not exist
/// is refused as Azure refuses it. The key vault key is kept as given, never used.
extension Emulator {
    /// `DiskEncryptionSetType` (DiskRP 2024-03-02 `diskEncryptionSet.json`).
    static let diskEncryptionSetTypes = [
        "EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys",
        "ConfidentialVmEncryptedWithCustomerKey"
    ]

    func diskEncryptionSetRoutes(
        _ request: EmulatorRequest, id: String, resourceGroup: String, failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        let existing = resource(key).flatMap { $0.kind == .diskEncryptionSet ? $0 : nil }
        switch request.method {
        case "GET":
            guard let existing else {
                throw ARMError.notFound(
                    type: ResourceKind.diskEncryptionSet.armType, name: name, resourceGroup: resourceGroup)
            }
            return .json(200, publicBody(existing, request))
        case "DELETE":
            return try await deleteResource(request, key: key, kind: .diskEncryptionSet, failOperation: failOperation)
        case "PUT", "PATCH":
            break
        default:
            throw methodNotAllowed(request)
        }
        let body = try BodyReader.parse(request.body)
        if request.method == "PATCH", existing == nil {
            throw ARMError.notFound(
                type: ResourceKind.diskEncryptionSet.armType, name: name, resourceGroup: resourceGroup)
        }
        var res = existing?.body ?? [:]
        if existing == nil {
            guard let location = try body.string("location") else {
                throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
            }
            res = Self.diskEncryptionSetBody(id: id, location: location)
        }
        if let type = try body.string("properties", "encryptionType") {
            guard let canonical = Self.diskEncryptionSetTypes.first(where: { $0.lowercased() == type.lowercased() })
            else {
                throw ARMError(
                    400, "InvalidParameter",
                    "The value '\(type)' of encryptionType is not valid; use one of \(Self.diskEncryptionSetTypes.joined(separator: ", ")).",
                    target: "encryptionType")
            }
            res.set(["properties", "encryptionType"], .string(canonical))
        }
        if let activeKey = try body.object("properties", "activeKey") {
            guard activeKey["keyUrl"]?.stringValue != nil else { throw ARMError.missing("activeKey.keyUrl") }
            res.set(["properties", "activeKey"], activeKey)
            res.set(["properties", "lastKeyRotationTimestamp"], .string(Timestamp.string(Date())))
        }
        if let rotation = try body.bool("properties", "rotationToLatestKeyVersionEnabled") {
            res.set(["properties", "rotationToLatestKeyVersionEnabled"], .bool(rotation))
        }
        if let identity = try ManagedIdentity.answer(body.json["identity"], resourceID: id, tenant: config.tenant) {
            res["identity"] = identity
        }
        if let tags = try body.stringMap("tags") { res["tags"] = tags }
        res.set(["properties", "provisioningState"], "Updating")
        state.resources[key] = StoredResource(kind: .diskEncryptionSet, body: res)
        markDirty()
        let op = startOperation(
            kind: .diskEncryptionSet, method: request.method, resourceID: id, opKind: "diskUpdate",
            duration: latency.diskUpdate, completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(existing == nil ? 202 : 200, res, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    /// A set as a PUT without properties makes it, and as the configuration's presets are.
    static func diskEncryptionSetBody(id: String, location: String) -> JSON {
        [
            "id": .string(id), "name": .string(String(id.split(separator: "/").last ?? "")),
            "type": .string(ResourceKind.diskEncryptionSet.armType), "location": .string(location),
            "properties": [
                "encryptionType": "EncryptionAtRestWithCustomerKey", "previousKeys": [],
                "rotationToLatestKeyVersionEnabled": false, "provisioningState": "Succeeded"
            ]
        ]
    }

    /// The configuration's preset sets (`"<rg>/<name>"`), made when missing.
    static func seedDiskEncryptionSets(_ state: inout PersistentState, _ config: EmulatorConfiguration) {
        for preset in config.diskEncryptionSets {
            let parts = preset.split(separator: "/").map(String.init)
            guard parts.count == 2 else { continue }
            if state.resourceGroups[parts[0].lowercased()] == nil {
                state.resourceGroups[parts[0].lowercased()] = resourceGroupBody(
                    config: config, name: parts[0], location: config.location, tags: nil)
            }
            let id =
                "/subscriptions/\(config.subscription)/resourceGroups/\(parts[0])/providers/Microsoft.Compute/diskEncryptionSets/\(parts[1])"
            var body = diskEncryptionSetBody(id: id, location: config.location)
            body["identity"] = [
                "type": "SystemAssigned", "principalId": .string(stableUUID("principal:" + id.lowercased())),
                "tenantId": .string(config.tenant)
            ]
            if state.resources[normalizeID(id)] == nil {
                state.resources[normalizeID(id)] = StoredResource(kind: .diskEncryptionSet, body: body)
            }
        }
    }

    /// The set `id` names, or Azure's answer to one that does not exist: 400 `BadRequest`
    /// "DiskEncryptionSet '…' was not found." (azure-cli issue 18355, `az disk update
    /// --disk-encryption-set`).
    @discardableResult
    func requireDiskEncryptionSet(_ id: String, target: String) throws(ARMError) -> StoredResource {
        guard let (_, set) = resolve(id, kinds: [.diskEncryptionSet]) else {
            throw ARMError(400, "BadRequest", "DiskEncryptionSet '\(id)' was not found.", target: target)
        }
        return set
    }
}
