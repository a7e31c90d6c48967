import Foundation
import Model

/// The platform image catalog: publishers, offers, skus and versions as bare JSON arrays
/// (what packer and azure-cli decode), and one version's details.
extension Emulator {
    func platformImages(_ request: EmulatorRequest, location: String, _ rest: [String], _ seg: [String])
        throws(ARMError) -> EmulatorResponse
    {
        guard request.method == "GET" else { throw methodNotAllowed(request) }
        let cat = config.platformImages
        let base = "/Subscriptions/\(config.subscription)/Providers/Microsoft.Compute/Locations/\(location)/Publishers"
        func item(_ name: String, _ id: String) -> JSON {
            ["name": .string(name), "location": .string(location), "id": .string(id)]
        }
        func unique(_ names: [String]) -> [String] {
            var seen = Set<String>()
            var out: [String] = []
            for n in names where seen.insert(n.lowercased()).inserted { out.append(n) }
            return out.sorted { $0.lowercased() < $1.lowercased() }
        }
        if rest == ["publishers"] {
            return .json(200, .array(unique(cat.map(\.publisher)).map { item($0, "\(base)/\($0)") }))
        }
        guard rest.count >= 5, rest[2] == "artifacttypes", rest[3] == "vmimage", rest[4] == "offers" else {
            throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
        }
        let pub = rest[1]
        let inPub = cat.filter { $0.publisher.lowercased() == pub }
        let pubName = inPub.first?.publisher ?? seg[1]
        let offersBase = "\(base)/\(pubName)/ArtifactTypes/VMImage/Offers"
        if rest.count == 5 {
            return .json(200, .array(unique(inPub.map(\.offer)).map { item($0, "\(offersBase)/\($0)") }))
        }
        let offer = rest[5]
        let inOffer = inPub.filter { $0.offer.lowercased() == offer }
        let offerName = inOffer.first?.offer ?? seg[5]
        if rest.count == 6 { throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).") }
        guard rest[6] == "skus" else {
            throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
        }
        if rest.count == 7 {
            return .json(
                200, .array(unique(inOffer.map(\.sku)).map { item($0, "\(offersBase)/\(offerName)/Skus/\($0)") }))
        }
        let sku = rest[7]
        let inSku = inOffer.filter { $0.sku.lowercased() == sku }
        let skuName = inSku.first?.sku ?? seg[7]
        guard rest.count >= 9, rest[8] == "versions" else {
            throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
        }
        let versionsBase = "\(offersBase)/\(offerName)/Skus/\(skuName)/Versions"
        if rest.count == 9 {
            var versions = inSku.sorted { ImageVersionOrder.less($0.version, $1.version) }
            if let order = request.query["$orderby"]?.lowercased() {
                if order == "name desc" {
                    versions.reverse()
                } else if order != "name" && order != "name asc" {
                    throw ARMError(
                        400, "InvalidParameter", "$orderby '\(order)' is not supported; use 'name desc' or 'name'.",
                        target: "$orderby")
                }
            }
            if let topText = request.query["$top"] {
                guard let top = Int(topText), top >= 0 else {
                    throw ARMError(400, "InvalidParameter", "$top must be a non-negative integer.", target: "$top")
                }
                versions = Array(versions.prefix(top))
            }
            // With `$expand=properties`: a bare array of full images at every api-version, as
            // Azure answers it. The 2024-11-01 specification's paged
            // `VirtualMachineImages_ListWithProperties` (`{"value": [...]}`) was wrong about the
            // service (azure-rest-api-specs PRs 33958 and 35509, by Compute), and the Azure
            // CLI's client for 2024-11-01 expects the array.
            if request.query["$expand"]?.lowercased().hasPrefix("properties") == true {
                return .json(
                    200,
                    .array(
                        versions.map { imageVersionBody($0, location: location, id: "\(versionsBase)/\($0.version)") }
                    ))
            }
            return .json(200, .array(versions.map { item($0.version, "\(versionsBase)/\($0.version)") }))
        }
        guard rest.count == 10, let img = inSku.first(where: { $0.version.lowercased() == rest[9] }) else {
            throw ARMError(404, "NotFound", "Artifact: VMImage was not found.")
        }
        return .json(200, imageVersionBody(img, location: location, id: "\(versionsBase)/\(img.version)"))
    }

    /// The features an image version answers with, as Azure's Ubuntu images report them
    /// (azure-docs `trusted-launch-faq.md`): Gen2 images also name their disk controllers.
    static func platformImageFeatures(_ img: PlatformImage) -> [JSON] {
        var features: [JSON] = []
        if let security = img.securityFeature {
            features.append(["name": "SecurityType", "value": .string(security.rawValue)])
        }
        features.append(["name": "IsAcceleratedNetworkSupported", "value": "True"])
        if img.hyperVGeneration.uppercased() == "V2" {
            features.append(["name": "DiskControllerTypes", "value": "SCSI, NVMe"])
        }
        return features
    }

    func imageVersionBody(_ img: PlatformImage, location: String, id: String) -> JSON {
        [
            "properties": [
                "hyperVGeneration": .string(img.hyperVGeneration), "architecture": .string(img.architecture.rawValue),
                "replicaType": "Managed", "replicaCount": 10, "disallowed": ["vmDiskType": "Unmanaged"],
                "automaticOSUpgradeProperties": ["automaticOSUpgradeSupported": false],
                "imageDeprecationStatus": ["imageState": "Active"],
                "features": .array(Self.platformImageFeatures(img)),
                "osDiskImage": ["operatingSystem": .string(img.osType), "sizeInGb": JSON(img.sizeGB)],
                "dataDiskImages": []
            ],
            "location": .string(location), "name": .string(img.version), "id": .string(id)
        ]
    }
}
