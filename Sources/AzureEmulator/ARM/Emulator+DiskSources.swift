import Foundation

/// Where a new disk's bits come from, and the checks Azure makes on it before a byte is copied.
extension Emulator {
    /// Where a new disk's bits come from.
    enum DiskSource {
        case empty(Int)
        case blob(String, inherit: JSON?, sourceUniqueID: String?)
        case platform(PlatformImage)
    }

    /// Azure refuses a disk smaller than what it is made from (an image's OS disk, a disk,
    /// a snapshot): a disk can only grow. Code, status and text are those Azure gives a VM
    /// whose OS disk is smaller than its image (docs/emulator.md cites them); Azure's answer
    /// to a standalone disk PUT is not documented.
    func refuseSmallerThanSource(_ source: DiskSource, requestedSize: Int?) async throws(ARMError) {
        guard let requestedSize else { return }
        let sourceSize: Int?
        let what: String
        switch source {
        case .empty: return
        case .platform(let img):
            sourceSize = img.sizeGB
            what = "the corresponding disk in the VM image"
        case .blob(let blob, _, _):
            sourceSize = try? await backend.sizeGB(id: blob)
            what = "the source"
        }
        if let sourceSize, requestedSize < sourceSize {
            throw ARMError(
                409, "OperationNotAllowed",
                "The specified disk size \(requestedSize) GB is smaller than the size of \(what): \(sourceSize) GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size.",
                target: "diskSizeGB")
        }
    }

    /// `FromImage`: a platform image version, a managed image, or a gallery image version (+ `lun`).
    func imageSource(_ body: BodyReader) throws(ARMError) -> DiskSource {
        for reference in ["galleryImageReference", "imageReference"] {
            for kind in ["communityGalleryImageId", "sharedGalleryImageId"]
            where try body.string("properties", "creationData", reference, kind) != nil {
                throw ARMError(
                    400, "InvalidParameter",
                    "creationData.\(reference).\(kind) is not supported by this emulator: community and directly shared gallery images are not emulated (use a gallery image version id in galleryImageReference.id).",
                    target: "creationData.\(reference).\(kind)")
            }
        }
        if let ref = try body.string("properties", "creationData", "galleryImageReference", "id") {
            let lun = try body.int("properties", "creationData", "galleryImageReference", "lun")
            guard let (vKey, v) = resolve(ref, kinds: [.galleryImageVersion]) else {
                throw ARMError(
                    404, "NotFound", "The gallery image version '\(ref)' was not found.",
                    target: "galleryImageReference.id")
            }
            let blob = lun.map { "\(vKey)/datadisk/\($0)" } ?? "\(vKey)/osdisk"
            guard v.blobs.contains(blob) else {
                throw ARMError(
                    400, "InvalidParameter", "The gallery image version '\(ref)' has no data disk at LUN \(lun ?? -1).",
                    target: "galleryImageReference.lun")
            }
            var inherit: JSON = [:]
            if lun == nil, let def = resource(Self.normalizeID(v.id).components(separatedBy: "/versions/").first ?? "")
            {
                inherit["osType"] = def.body.at("properties", "osType")
                inherit["hyperVGeneration"] = def.body.at("properties", "hyperVGeneration")
                inherit["imageSecurity"] =
                    Self.securityFeature(def.body.at("properties", "features"))
                    .map { .string($0.rawValue) } ?? .null
                let architecture = def.body.at("properties", "architecture") ?? .string(ImageArchitecture.x64.rawValue)
                inherit["supportedCapabilities"] = ["architecture": architecture]
            }
            return .blob(blob, inherit: inherit, sourceUniqueID: nil)
        }
        guard let ref = try body.string("properties", "creationData", "imageReference", "id") else {
            throw ARMError.missing("creationData.imageReference")
        }
        let lun = try body.int("properties", "creationData", "imageReference", "lun")
        if let (iKey, img) = resolve(ref, kinds: [.image]) {
            let blob = lun.map { "\(iKey)/datadisk/\($0)" } ?? "\(iKey)/osdisk"
            guard img.blobs.contains(blob) else {
                throw ARMError(
                    400, "InvalidParameter", "The image '\(ref)' has no data disk at LUN \(lun ?? -1).",
                    target: "imageReference.lun")
            }
            var inherit: JSON = [:]
            if lun == nil {
                inherit["osType"] = img.body.at("properties", "storageProfile", "osDisk", "osType")
                inherit["hyperVGeneration"] = img.body.at("properties", "hyperVGeneration")
            }
            return .blob(blob, inherit: inherit, sourceUniqueID: nil)
        }
        let p = ref.lowercased().split(separator: "/").map(String.init)
        // subscriptions/{s}/providers/microsoft.compute/locations/{l}/publishers/{p}/artifacttypes/vmimage/offers/{o}/skus/{k}/versions/{v}
        guard p.count == 16, p[0] == "subscriptions", p[4] == "locations", p[6] == "publishers",
            p[8] == "artifacttypes",
            p[10] == "offers", p[12] == "skus", p[14] == "versions"
        else {
            throw ARMError(
                400, "InvalidParameter",
                "imageReference.id '\(ref)' is neither a platform image version, a managed image nor a gallery image version.",
                target: "imageReference.id")
        }
        guard
            let img = config.platformImages.first(where: {
                $0.publisher.lowercased() == p[7] && $0.offer.lowercased() == p[11] && $0.sku.lowercased() == p[13]
                    && $0.version.lowercased() == p[15]
            })
        else {
            throw ARMError(
                404, "PlatformImageNotFound",
                "The platform image '\(p[7]):\(p[11]):\(p[13]):\(p[15])' is not available. Verify that all fields in the storage profile are correct.",
                target: "imageReference")
        }
        if let lun {
            throw ARMError(
                400, "InvalidParameter", "The platform image has no data disk at LUN \(lun).",
                target: "imageReference.lun")
        }
        return .platform(img)
    }
}
