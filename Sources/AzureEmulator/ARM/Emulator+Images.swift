import Foundation

/// Managed images, made from disks or snapshots (OS disk plus data disks).
extension Emulator {
    func imageRoutes(_ request: EmulatorRequest, id: String, resourceGroup: String, failOperation: FaultRule?)
        async throws(ARMError) -> EmulatorResponse
    {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        switch request.method {
        case "GET":
            guard let r = resource(key), r.kind == .image else {
                throw ARMError.notFound(type: "Microsoft.Compute/images", name: name, resourceGroup: resourceGroup)
            }
            return .json(200, publicBody(r, request))
        case "PUT", "PATCH":
            let body = try BodyReader.parse(request.body)
            if var r = resource(key), r.kind == .image {
                if let tags = try body.stringMap("tags") { r.body["tags"] = tags }
                r.setProvisioningState("Updating")
                state.resources[key] = r
                let op = startOperation(
                    kind: .image, method: request.method, resourceID: r.id, opKind: "imageUpdate", duration: 0,
                    completion: .provision(resourceKey: key), failOperation: failOperation)
                let response = EmulatorResponse.json(200, r.body, headers: lroHeaders(op, request))
                await finishIfInstant(op)
                return response
            }
            if request.method == "PATCH" {
                throw ARMError.notFound(type: "Microsoft.Compute/images", name: name, resourceGroup: resourceGroup)
            }
            return try await createImage(
                request, key: key, id: id, name: name, body: body, failOperation: failOperation)
        case "DELETE":
            return try await deleteResource(request, key: key, kind: .image, failOperation: failOperation)
        default:
            throw methodNotAllowed(request)
        }
    }

    /// The blob behind an `ImageDisk` (`managedDisk.id` or `snapshot.id`).
    func imageDiskSource(_ disk: BodyReader, path: String) throws(ARMError) -> (String, StoredResource) {
        if try disk.string("blobUri") != nil {
            throw ARMError(
                400, "InvalidParameter",
                "Images from blob URIs are not supported by the emulator; use managedDisk or snapshot.",
                target: "\(path).blobUri")
        }
        let managed = try disk.string("managedDisk", "id")
        let snapshot = try disk.string("snapshot", "id")
        guard let src = managed ?? snapshot else {
            throw ARMError(
                400, "InvalidParameter", "One of managedDisk, snapshot or blobUri is required for '\(path)'.",
                target: path)
        }
        guard let found = resolve(src, kinds: [.disk, .snapshot]) else {
            throw ARMError(404, "NotFound", "Resource '\(src)' referenced by '\(path)' was not found.", target: path)
        }
        return found
    }

    /// Managed images hold neither Arm64 nor Trusted Launch / confidential OS disks: 409
    /// `OperationNotAllowed` (Arm64: Azure's text, azure-sdk-for-go issue 19665; security type:
    /// Azure's text for a VM capture, packer issue 13189, said of the disk or snapshot here).
    func refuseImageSource(_ source: StoredResource) throws(ARMError) {
        let what = source.kind == .snapshot ? "snapshot" : "managedDisk"
        let architecture = source.body.at("properties", "supportedCapabilities", "architecture")?.stringValue
        if let architecture, ImageArchitecture(spelling: architecture) == .arm64 {
            throw ARMError(
                409, "OperationNotAllowed",
                "Creating an image with \(what) source that has CPU Architecture 'Arm64' is not supported. Please select a source resource with a supported CPU Architecture: 'x64'.",
                target: "storageProfile.osDisk")
        }
        if let security = source.body.at("properties", "securityProfile", "securityType")?.stringValue {
            throw ARMError(
                409, "OperationNotAllowed",
                "Creation of managed images are not supported for \(source.kind == .snapshot ? "snapshot" : "disk") with \(security) security type.",
                target: "storageProfile.osDisk")
        }
    }

    func createImage(
        _ request: EmulatorRequest, key: String, id: String, name: String, body: BodyReader, failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        guard let location = try body.string("location") else {
            throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
        }
        if try body.object("properties", "sourceVirtualMachine") != nil {
            throw ARMError(
                400, "InvalidParameter",
                "Capturing an image from a VM is not supported by the emulator; use disks or snapshots.",
                target: "sourceVirtualMachine")
        }
        guard let osDisk = try body.object("properties", "storageProfile", "osDisk") else {
            throw ARMError.missing("storageProfile.osDisk")
        }
        let os = BodyReader(json: osDisk)
        guard let osType = try os.string("osType") else { throw ARMError.missing("storageProfile.osDisk.osType") }
        guard try os.string("osState") != nil else { throw ARMError.missing("storageProfile.osDisk.osState") }
        let (osKey, osRes) = try imageDiskSource(os, path: "storageProfile.osDisk")
        try refuseImageSource(osRes)
        if let set = try os.string("diskEncryptionSet", "id") {
            try requireDiskEncryptionSet(set, target: "storageProfile.osDisk.diskEncryptionSet.id")
        }
        var copies: [(String, String)] = [("\(key)/osdisk", osKey)]
        var dataDisks: [JSON] = []
        for (i, d) in (try body.array("properties", "storageProfile", "dataDisks") ?? []).enumerated() {
            let r = BodyReader(json: d)
            guard let lun = try r.int("lun") else { throw ARMError.missing("storageProfile.dataDisks[\(i)].lun") }
            let (srcKey, _) = try imageDiskSource(r, path: "storageProfile.dataDisks[\(i)]")
            if let set = try r.string("diskEncryptionSet", "id") {
                try requireDiskEncryptionSet(set, target: "storageProfile.dataDisks[\(i)].diskEncryptionSet.id")
            }
            if copies.contains(where: { $0.0 == "\(key)/datadisk/\(lun)" }) {
                throw ARMError(
                    400, "InvalidParameter", "Two image data disks use LUN \(lun).", target: "storageProfile.dataDisks")
            }
            copies.append(("\(key)/datadisk/\(lun)", srcKey))
            var dd = d
            if dd["caching"] == nil { dd["caching"] = "None" }
            dataDisks.append(dd)
        }
        var props = body.value(["properties"]) ?? [:]
        var osOut = osDisk
        osOut["osType"] = .string(osType)
        if osOut["caching"] == nil { osOut["caching"] = "ReadWrite" }
        props.set(["storageProfile", "osDisk"], osOut)
        props.set(["storageProfile", "dataDisks"], .array(dataDisks))
        if props.at("storageProfile", "zoneResilient") == nil { props.set(["storageProfile", "zoneResilient"], false) }
        if props["hyperVGeneration"] == nil {
            props["hyperVGeneration"] = osRes.body.at("properties", "hyperVGeneration") ?? "V1"
        }
        props["provisioningState"] = "Creating"
        var res: JSON = [
            "id": .string(id), "name": .string(name), "type": "Microsoft.Compute/images", "location": .string(location),
            "properties": props
        ]
        if let tags = try body.stringMap("tags") { res["tags"] = tags }
        state.resources[key] = StoredResource(kind: .image, body: res, blobs: copies.map(\.0))
        markDirty()
        for (dst, src) in copies {
            do { try await captureBlob(from: src, to: dst, sizeGB: nil, into: id) } catch {
                for (d, _) in copies { try? await backend.delete(id: d) }
                state.resources[key] = nil
                throw backendError("copy \(src) into image \(id)", error)
            }
        }
        guard var stored = state.resources[key] else {
            throw ARMError(409, "Conflict", "The request failed due to conflict with a concurrent request.")
        }
        if stored.body.at("properties", "storageProfile", "osDisk", "diskSizeGB") == nil,
            let s = try? await backend.sizeGB(id: "\(key)/osdisk")
        {
            stored.body.set(["properties", "storageProfile", "osDisk", "diskSizeGB"], JSON(s))
        }
        var outData: [JSON] = []
        for var d in stored.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? [] {
            if d["diskSizeGB"] == nil, let lun = d["lun"]?.intValue,
                let s = try? await backend.sizeGB(id: "\(key)/datadisk/\(lun)")
            {
                d["diskSizeGB"] = JSON(s)
            }
            outData.append(d)
        }
        stored.body.set(["properties", "storageProfile", "dataDisks"], .array(outData))
        state.resources[key] = stored
        let op = startOperation(
            kind: .image, method: "PUT", resourceID: id, opKind: "image", duration: latency.image,
            completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(201, stored.body, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }
}
