import Foundation
import Model

/// Azure Compute Gallery: galleries, image definitions, and image versions whose replication
/// to each target region advances with time.
extension Emulator {
    static func validGalleryName(_ n: String) -> Bool {
        guard let f = n.first, let l = n.last, f.isLetter || f.isNumber, l.isLetter || l.isNumber, n.count <= 80 else {
            return false
        }
        var prevSep = false
        for c in n {
            guard c.isASCII else { return false }
            let sep = c == "_" || c == "."
            if !(c.isLetter || c.isNumber || sep) { return false }
            if sep && prevSep { return false }
            prevSep = sep
        }
        return true
    }

    static func validVersionName(_ n: String) -> Bool {
        let parts = n.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { p in !p.isEmpty && p.allSatisfy(\.isNumber) && Int32(p) != nil }
    }

    func galleryRoutes(
        _ request: EmulatorRequest, resourceGroup rg: String, _ p: [String], _ s: [String], base: String,
        failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let galleryID = "\(base)/galleries/\(s[1])"
        let galleryKey = Self.normalizeID(galleryID)
        if p.count == 2 {
            return try await galleryLike(
                request, kind: .gallery, id: galleryID, parentKey: nil, resourceGroup: rg, failOperation: failOperation)
        }
        guard p[2] == "images" else { throw invalidType("galleries/\(s[2])", request) }
        if p.count == 3 {
            guard request.method == "GET" else { throw methodNotAllowed(request) }
            guard resource(galleryKey) != nil else { throw parentNotFound(s[1]) }
            return try listKind(.galleryImage, resourceGroup: rg, parent: galleryKey, request)
        }
        let defID = "\(galleryID)/images/\(s[3])"
        let defKey = Self.normalizeID(defID)
        if p.count == 4 {
            return try await galleryLike(
                request, kind: .galleryImage, id: defID, parentKey: galleryKey, resourceGroup: rg,
                failOperation: failOperation)
        }
        guard p[4] == "versions" else { throw invalidType("galleries/images/\(s[4])", request) }
        if p.count == 5 {
            guard request.method == "GET" else { throw methodNotAllowed(request) }
            guard resource(defKey) != nil else { throw parentNotFound("\(s[1])/\(s[3])") }
            return try listKind(.galleryImageVersion, resourceGroup: rg, parent: defKey, request)
        }
        if p.count == 6 {
            return try await galleryVersion(
                request, id: "\(defID)/versions/\(s[5])", defKey: defKey, parentName: "\(s[1])/\(s[3])",
                resourceGroup: rg, failOperation: failOperation)
        }
        throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
    }

    func parentNotFound(_ name: String) -> ARMError {
        ARMError(
            404, "ParentResourceNotFound",
            "Can not perform requested operation on nested resource. Parent resource '\(name)' not found.")
    }

    /// Galleries and image definitions: metadata-only resources.
    func galleryLike(
        _ request: EmulatorRequest, kind: ResourceKind, id: String, parentKey: String?, resourceGroup: String,
        failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        switch request.method {
        case "GET":
            guard let r = resource(key), r.kind == kind else {
                throw ARMError.notFound(type: kind.armType, name: name, resourceGroup: resourceGroup)
            }
            return .json(200, publicBody(r, request))
        case "DELETE":
            return try await deleteResource(request, key: key, kind: kind, failOperation: failOperation)
        case "PUT", "PATCH":
            break
        default:
            throw methodNotAllowed(request)
        }
        if let parentKey, resource(parentKey) == nil {
            throw parentNotFound(String(parentKey.split(separator: "/").last ?? ""))
        }
        let body = try BodyReader.parse(request.body)
        let existing = resource(key)
        if request.method == "PATCH", existing == nil {
            throw ARMError.notFound(type: kind.armType, name: name, resourceGroup: resourceGroup)
        }
        var res: JSON
        // Only a gallery has a managed identity (`GalleryIdentity`, 2024-03-03).
        let identity =
            kind == .gallery
            ? try ManagedIdentity.answer(body.json["identity"], resourceID: id, tenant: config.tenant) : nil
        if var r = existing?.body {
            if let tags = try body.stringMap("tags") { r["tags"] = tags }
            if let identity { r["identity"] = identity }
            if kind == .galleryImage, let sent = try body.object("properties") {
                r["properties"] = try updatedDefinition(r["properties"] ?? [:], sent: sent)
            } else if let props = try body.object("properties")?.objectValue {
                for (k, v) in props where !["provisioningState", "identifier"].contains(k) {
                    r.set(["properties", k], v)
                }
            }
            r.set(["properties", "provisioningState"], "Updating")
            res = r
        } else {
            guard let location = try body.string("location") else {
                throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
            }
            if kind == .gallery {
                guard Self.validGalleryName(name) else {
                    throw ARMError(
                        400, "InvalidParameter",
                        "The gallery name '\(name)' is invalid: use letters, digits, '_' and '.', starting and ending with a letter or digit.",
                        target: "galleryName")
                }
            }
            var props = try body.object("properties") ?? [:]
            if kind == .gallery {
                props["identifier"] = ["uniqueName": .string("\(config.subscription)-\(name.uppercased())")]
            } else {
                let pr = BodyReader(json: props)
                guard try pr.string("osType") != nil else { throw ARMError.missing("osType") }
                guard try pr.string("osState") != nil else { throw ARMError.missing("osState") }
                guard try pr.string("identifier", "publisher") != nil, try pr.string("identifier", "offer") != nil,
                    try pr.string("identifier", "sku") != nil
                else { throw ARMError.missing("identifier") }
                if props["hyperVGeneration"] == nil { props["hyperVGeneration"] = "V1" }
                if props["architecture"] == nil { props["architecture"] = "x64" }
                props = try checkedDefinitionProperties(props)
            }
            props["provisioningState"] = "Creating"
            res = [
                "id": .string(id), "name": .string(name), "type": .string(kind.armType), "location": .string(location),
                "properties": props
            ]
            if let tags = try body.stringMap("tags") { res["tags"] = tags }
            if let identity { res["identity"] = identity }
        }
        state.resources[key] = StoredResource(kind: kind, body: res, blobs: existing?.blobs ?? [])
        let op = startOperation(
            kind: kind, method: request.method, resourceID: id, opKind: "gallery", duration: latency.gallery,
            completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(existing == nil ? 201 : 200, res, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    func galleryVersion(
        _ request: EmulatorRequest, id: String, defKey: String, parentName: String, resourceGroup: String,
        failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let key = Self.normalizeID(id)
        let name = String(id.split(separator: "/").last ?? "")
        switch request.method {
        case "GET":
            guard let r = resource(key), r.kind == .galleryImageVersion else {
                throw ARMError.notFound(
                    type: "Microsoft.Compute/galleries/images/versions", name: name, resourceGroup: resourceGroup)
            }
            return .json(200, publicBody(r, request))
        case "DELETE":
            return try await deleteResource(request, key: key, kind: .galleryImageVersion, failOperation: failOperation)
        case "PUT", "PATCH":
            break
        default:
            throw methodNotAllowed(request)
        }
        guard let def = resource(defKey) else { throw parentNotFound(parentName) }
        let body = try BodyReader.parse(request.body)
        if let existing = resource(key), existing.kind == .galleryImageVersion {
            // `GalleryImageVersionUpdate` requires it (Azure's own update example sends `{}`).
            if request.method == "PATCH", try body.object("properties", "storageProfile") == nil {
                throw ARMError.missing("storageProfile")
            }
            return try await updateVersion(
                request, key: key, existing: existing, body: body, failOperation: failOperation)
        }
        if request.method == "PATCH" {
            throw ARMError.notFound(
                type: "Microsoft.Compute/galleries/images/versions", name: name, resourceGroup: resourceGroup)
        }
        guard Self.validVersionName(name) else {
            throw ARMError(
                400, "InvalidParameter",
                "The gallery image version name '\(name)' is invalid: it must be <Major>.<Minor>.<Patch>, each a 32-bit integer.",
                target: "galleryImageVersionName")
        }
        guard let location = try body.string("location") else {
            throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
        }
        guard try body.object("properties", "storageProfile") != nil else { throw ARMError.missing("storageProfile") }

        // Which blobs become the version's OS and data disk images.
        var copies: [(dst: String, src: String)] = []
        for other in ["communityGalleryImageId", "virtualMachineId"]
        where try body.string("properties", "storageProfile", "source", other) != nil {
            throw ARMError(
                400, "InvalidParameter",
                "storageProfile.source.\(other) is not supported by this emulator: versions are made from managed images, other versions, disks and snapshots (storageProfile.source.id, osDiskImage.source.id).",
                target: "storageProfile.source.\(other)")
        }
        let wholeSource = try body.string("properties", "storageProfile", "source", "id")
        let osDiskSource = try body.string("properties", "storageProfile", "osDiskImage", "source", "id")
        let dataDiskImages = try body.array("properties", "storageProfile", "dataDiskImages") ?? []
        if wholeSource != nil, osDiskSource != nil || dataDiskImages.contains(where: { $0.at("source", "id") != nil }) {
            throw ARMError(
                400, "InvalidParameter",
                "The gallery artifact version source can only be specified either directly under storageProfile or within individual OS or data disks.",
                target: "storageProfile")
        }
        if let src = wholeSource {
            guard let (srcKey, srcRes) = resolve(src, kinds: [.image, .galleryImageVersion]) else {
                throw ARMError(
                    404, "NotFound", "The source '\(src)' of the gallery image version was not found.",
                    target: "storageProfile.source.id")
            }
            for blob in srcRes.blobs { copies.append((key + blob.dropFirst(srcKey.count), blob)) }
        }
        if let src = osDiskSource {
            guard let (srcKey, _) = resolve(src, kinds: [.disk, .snapshot]) else {
                throw ARMError(
                    404, "NotFound", "The OS disk image source '\(src)' was not found.",
                    target: "storageProfile.osDiskImage.source.id")
            }
            copies.removeAll { $0.dst == "\(key)/osdisk" }
            copies.append(("\(key)/osdisk", srcKey))
        }
        for (i, d) in dataDiskImages.enumerated() {
            let r = BodyReader(json: d)
            guard let lun = try r.int("lun") else { throw ARMError.missing("storageProfile.dataDiskImages[\(i)].lun") }
            // With a whole source (a managed image, a version), an entry only sets the caching
            // of the source's data disk at that LUN.
            if wholeSource != nil {
                guard copies.contains(where: { $0.dst == "\(key)/datadisk/\(lun)" }) else {
                    throw ARMError(
                        400, "InvalidParameter",
                        "The source '\(wholeSource ?? "")' has no data disk at LUN \(lun) (storageProfile.dataDiskImages[\(i)].lun).",
                        target: "storageProfile.dataDiskImages[\(i)].lun")
                }
                continue
            }
            guard let src = try r.string("source", "id") else {
                throw ARMError.missing("storageProfile.dataDiskImages[\(i)].source.id")
            }
            guard let (srcKey, _) = resolve(src, kinds: [.disk, .snapshot]) else {
                throw ARMError(
                    404, "NotFound", "The data disk image source '\(src)' was not found.",
                    target: "storageProfile.dataDiskImages[\(i)].source.id")
            }
            copies.removeAll { $0.dst == "\(key)/datadisk/\(lun)" }
            copies.append(("\(key)/datadisk/\(lun)", srcKey))
        }
        guard let osSource = copies.first(where: { $0.dst == "\(key)/osdisk" })?.src else {
            throw ARMError(
                400, "InvalidParameter",
                "The gallery image version needs an OS disk source: storageProfile.source.id or storageProfile.osDiskImage.source.id.",
                target: "storageProfile")
        }
        try checkSource(osSource, against: def)
        var props = body.value(["properties"]) ?? [:]
        let publishing = publishingProfile(props["publishingProfile"], location: location)
        try checkPublishingProfile(publishing, location: location, previous: nil)
        props["publishingProfile"] = publishing
        props["provisioningState"] = "Creating"
        var res: JSON = [
            "id": .string(id), "name": .string(name), "type": "Microsoft.Compute/galleries/images/versions",
            "location": .string(location), "properties": props
        ]
        if let tags = try body.stringMap("tags") { res["tags"] = tags }
        let regions = (publishing["targetRegions"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let concurrent = latency.replication == .concurrent
        let plan = ReplicationPlan(
            start: Date(), perRegion: perRegionSeconds(publishing), regions: regions, concurrent: concurrent)
        state.resources[key] = StoredResource(
            kind: .galleryImageVersion, body: res, blobs: copies.map(\.dst), replication: plan)
        markDirty()
        for c in copies {
            do { try await captureBlob(from: c.src, to: c.dst, sizeGB: nil, into: id) } catch {
                for d in copies { try? await backend.delete(id: d.dst) }
                state.resources[key] = nil
                throw backendError("copy \(c.src) into gallery image version \(id)", error)
            }
        }
        guard var stored = state.resources[key] else {
            throw ARMError(409, "Conflict", "The request failed due to conflict with a concurrent request.")
        }
        // Fill in the storage profile as ARM reports it (sizes, host caching, sources).
        var sp = stored.body.at("properties", "storageProfile") ?? [:]
        var os = sp["osDiskImage"] ?? [:]
        if os["hostCaching"] == nil { os["hostCaching"] = "ReadOnly" }
        os["sizeInGB"] = JSON((try? await backend.sizeGB(id: "\(key)/osdisk")) ?? 0)
        sp["osDiskImage"] = os
        var dataOut: [JSON] = []
        for c in copies where c.dst.contains("/datadisk/") {
            let lun = Int(c.dst.split(separator: "/").last ?? "") ?? 0
            var d = (sp["dataDiskImages"]?.arrayValue ?? []).first { $0["lun"]?.intValue == lun } ?? ["lun": JSON(lun)]
            if d["hostCaching"] == nil { d["hostCaching"] = "None" }
            d["sizeInGB"] = JSON((try? await backend.sizeGB(id: c.dst)) ?? 0)
            dataOut.append(d)
        }
        sp["dataDiskImages"] = .array(dataOut.sorted { ($0["lun"]?.intValue ?? 0) < ($1["lun"]?.intValue ?? 0) })
        stored.body.set(["properties", "storageProfile"], sp)
        _ = def
        state.resources[key] = stored
        let op = startOperation(
            kind: .galleryImageVersion, method: "PUT", resourceID: id, opKind: "versionPerRegion",
            duration: ReplicationPlan.duration(
                perRegion: plan.perRegion, newRegions: max(1, regions.count), concurrent: concurrent),
            completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(201, stored.body, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    /// Defaults the publishing profile: target regions (default: the version's location),
    /// replica counts, storage account type, publish date.
    func publishingProfile(_ given: JSON?, location: String) -> JSON {
        var p = given ?? [:]
        if p.objectValue == nil { p = [:] }
        let replicaCount = p["replicaCount"]?.intValue ?? 1
        let sat = p["storageAccountType"]?.stringValue ?? "Standard_LRS"
        // A date-time comes back as Azure spells it, whatever the client sent.
        if let text = p["endOfLifeDate"]?.stringValue, let date = AzureDateTime(parsing: text) {
            p["endOfLifeDate"] = .string(date.azureSpelling)
        }
        var regions = p["targetRegions"]?.arrayValue ?? []
        if regions.isEmpty { regions = [["name": .string(location)]] }
        regions = regions.map { r in
            var r = r
            if r["regionalReplicaCount"] == nil { r["regionalReplicaCount"] = JSON(replicaCount) }
            if r["storageAccountType"] == nil { r["storageAccountType"] = .string(sat) }
            if r["excludeFromLatest"] == nil { r["excludeFromLatest"] = p["excludeFromLatest"] ?? false }
            return r
        }
        p["targetRegions"] = .array(regions)
        p["replicaCount"] = JSON(replicaCount)
        p["storageAccountType"] = .string(sat)
        if p["excludeFromLatest"] == nil { p["excludeFromLatest"] = false }
        if p["publishedDate"] == nil { p["publishedDate"] = .string(Timestamp.string(Date())) }
        return p
    }

    /// PATCH or re-PUT of a version: publishing profile (new regions replicate), tags.
    func updateVersion(
        _ request: EmulatorRequest, key: String, existing: StoredResource, body: BodyReader, failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        var r = existing
        try refuseSourceChange(body, existing: existing)
        if let tags = try body.stringMap("tags") { r.body["tags"] = tags }
        var duration = 0.0
        if let pp = try body.object("properties", "publishingProfile") {
            let old = r.body.at("properties", "publishingProfile") ?? [:]
            var merged = old.merging(pp)
            merged["publishedDate"] = old["publishedDate"]
            let location = r.body["location"]?.stringValue ?? config.location
            merged = publishingProfile(merged, location: location)
            try checkPublishingProfile(merged, location: location, previous: old)
            let oldRegions = Set(
                (old["targetRegions"]?.arrayValue ?? []).compactMap {
                    $0["name"]?.stringValue.map(Self.normalizeLocation)
                })
            let newRegions = (merged["targetRegions"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            let added = newRegions.filter { !oldRegions.contains(Self.normalizeLocation($0)) }
            if !added.isEmpty {
                // Regions already replicated stay Completed; the new ones replicate now.
                let concurrent = latency.replication == .concurrent
                let kept = newRegions.filter { oldRegions.contains(Self.normalizeLocation($0)) }
                var plan = ReplicationPlan(
                    start: Date(), perRegion: perRegionSeconds(merged), regions: kept + added,
                    concurrent: concurrent, completedBefore: kept.count)
                if !concurrent {
                    // One after another: the kept regions' turns lie in the past.
                    plan.start = Date().addingTimeInterval(-plan.perRegion * Double(kept.count))
                }
                r.replication = plan
                duration = ReplicationPlan.duration(
                    perRegion: plan.perRegion, newRegions: added.count, concurrent: concurrent)
            } else if var plan = r.replication {
                plan.regions = newRegions
                r.replication = plan
            }
            r.body.set(["properties", "publishingProfile"], merged)
        }
        if let sp = try body.object("properties", "safetyProfile") { r.body.set(["properties", "safetyProfile"], sp) }
        r.setProvisioningState("Updating")
        state.resources[key] = r
        let op = startOperation(
            kind: .galleryImageVersion, method: request.method, resourceID: r.id, opKind: "versionPerRegion",
            duration: duration, completion: .provision(resourceKey: key), failOperation: failOperation)
        let response = EmulatorResponse.json(200, r.body, headers: lroHeaders(op, request))
        await finishIfInstant(op)
        return response
    }

    /// A version's sources are fixed when it is made: an update naming another source (the
    /// version's, its OS disk's or a data disk's) is refused, not silently ignored; one that
    /// repeats them (a re-PUT of the same body) is fine.
    func refuseSourceChange(_ body: BodyReader, existing: StoredResource) throws(ARMError) {
        let had = existing.body.at("properties", "storageProfile") ?? [:]
        func same(_ a: String?, _ b: String?) -> Bool { a.map(Self.normalizeID) == b.map(Self.normalizeID) }
        func refuse(_ property: String) -> ARMError {
            ARMError(
                409, "PropertyChangeNotAllowed",
                "Changing property 'galleryImageVersion.properties.storageProfile.\(property)' is not allowed.",
                target: "galleryImageVersion.properties.storageProfile.\(property)")
        }
        if let sent = try body.string("properties", "storageProfile", "source", "id"),
            !same(sent, had.at("source", "id")?.stringValue)
        {
            throw refuse("source.id")
        }
        if let sent = try body.string("properties", "storageProfile", "osDiskImage", "source", "id"),
            !same(sent, had.at("osDiskImage", "source", "id")?.stringValue)
        {
            throw refuse("osDiskImage.source.id")
        }
        let hadData = had["dataDiskImages"]?.arrayValue ?? []
        for d in try body.array("properties", "storageProfile", "dataDiskImages") ?? [] {
            guard let sent = d.at("source", "id")?.stringValue else { continue }
            let lun = d["lun"]?.intValue
            let old = hadData.first { $0["lun"]?.intValue == lun }?.at("source", "id")?.stringValue
            if !same(sent, old) { throw refuse("dataDiskImages[lun=\(lun.map(String.init) ?? "?")].source.id") }
        }
    }
}
