import Foundation

/// What Azure checks of a gallery image version against its image definition and of its
/// publishing profile (docs/emulator.md, "Security types, architecture and encryption" and
/// "Replication modes" cite each rule).
extension Emulator {
    /// What a version's OS source is, as far as its definition cares.
    struct VersionSource {
        var id: String
        var generation: String
        var architecture: ImageArchitecture
        var security: DiskSecurityType?
    }

    /// The source behind blob `blob` (a source resource's key, or a version's disk below it):
    /// the resource with the longest key that is the blob or above it. A version's blob is
    /// below its definition and gallery too, so the first match of an unordered table could be
    /// either (the replay of Azure's examples caught it, one run in three under load).
    func versionSource(_ blob: String) -> VersionSource? {
        guard
            let (_, source) = state.resources.filter({ blob == $0.key || blob.hasPrefix($0.key + "/") })
                .max(by: { $0.key.count < $1.key.count })
        else { return nil }
        let properties = source.body["properties"]
        var found = VersionSource(
            id: source.id, generation: properties?["hyperVGeneration"]?.stringValue?.uppercased() ?? "V1",
            architecture: .x64, security: nil)
        switch source.kind {
        case .disk, .snapshot:
            found.architecture =
                properties?.at("supportedCapabilities", "architecture")?.stringValue
                .flatMap(ImageArchitecture.init(spelling:)) ?? .x64
            found.security = properties?.at("securityProfile", "securityType")?.stringValue
                .flatMap(DiskSecurityType.init(spelling:))
        case .galleryImageVersion:
            let parentKey = Self.normalizeID(source.id).components(separatedBy: "/").dropLast(2).joined(separator: "/")
            guard let definition = resource(parentKey)?.body["properties"] else { break }
            found.generation = definition["hyperVGeneration"]?.stringValue?.uppercased() ?? "V1"
            found.architecture =
                definition["architecture"]?.stringValue.flatMap(ImageArchitecture.init(spelling:)) ?? .x64
            switch Self.securityFeature(definition["features"]) {
            case .trustedLaunch: found.security = .trustedLaunch
            case .confidentialVM: found.security = .confidentialGuestStateOnly
            default: break
            }
        default:
            break
        }
        return found
    }

    /// Refuses an OS source the definition cannot hold: another Hyper-V generation (409, "different
    /// Hypervisor generation"; an unset generation is V1 on both), another architecture, or a
    /// security type its `SecurityType` feature does not admit.
    func checkSource(_ blob: String, against definition: StoredResource) throws(ARMError) {
        guard let source = versionSource(blob) else { return }
        let properties = definition.body["properties"]
        let wanted = properties?["hyperVGeneration"]?.stringValue?.uppercased() ?? "V1"
        guard source.generation == wanted else {
            throw ARMError(
                409, "OperationNotAllowed",
                "Cannot create Gallery Image Version from a source with a different Hypervisor generation than the Gallery Image: the Gallery Image is \(wanted), the source is \(source.generation).",
                target: "storageProfile")
        }
        let architecture = properties?["architecture"]?.stringValue.flatMap(ImageArchitecture.init(spelling:)) ?? .x64
        guard source.architecture == architecture else {
            throw ARMError(
                400, "InvalidParameter",
                "The source '\(source.id)' has CPU architecture '\(source.architecture.rawValue)', but the gallery image definition's architecture is '\(architecture.rawValue)'.",
                target: "storageProfile")
        }
        let feature = Self.securityFeature(properties?["features"])
        guard let feature else {
            if let security = source.security {
                throw ARMError(
                    400, "InvalidParameter",
                    "The source '\(source.id)' has security type '\(security.rawValue)', but the gallery image definition has no SecurityType feature; publish it to a definition with SecurityType '\(security.isConfidential ? "ConfidentialVM" : "TrustedLaunch")'.",
                    target: "storageProfile")
            }
            return
        }
        guard feature.admitsSource(source.security) else {
            let has =
                source.security.map { "security type '\($0.rawValue)' (it carries VM guest state)" }
                ?? "no security type"
            throw ARMError(
                400, "InvalidParameter",
                "The security type '\(feature.rawValue)' is not supported for the source id '\(source.id)': the source has \(has).",
                target: "storageProfile")
        }
    }

    /// Seconds each target region takes: `Shallow` versions a fraction of a `Full` one's.
    func perRegionSeconds(_ publishing: JSON) -> Double {
        let shallow = publishing["replicationMode"]?.stringValue == "Shallow"
        return latency.versionPerRegion * (shallow ? latency.shallowReplicationFactor : 1)
    }

    /// A publishing profile's disk encryption sets must exist; a `Shallow` version stays in its
    /// own region with one replica; `replicationMode` is not updatable (`previous`: the profile
    /// an update changes).
    func checkPublishingProfile(_ profile: JSON, location: String, previous: JSON?) throws(ARMError) {
        let regions = profile["targetRegions"]?.arrayValue ?? []
        for (i, region) in regions.enumerated() {
            let path = "publishingProfile.targetRegions[\(i)].encryption"
            let encryption = region["encryption"]
            if let set = encryption?.at("osDiskImage", "diskEncryptionSetId")?.stringValue {
                try requireDiskEncryptionSet(set, target: "\(path).osDiskImage.diskEncryptionSetId")
            }
            if let set = encryption?.at("osDiskImage", "securityProfile", "secureVMDiskEncryptionSetId")?.stringValue {
                try requireDiskEncryptionSet(
                    set, target: "\(path).osDiskImage.securityProfile.secureVMDiskEncryptionSetId")
            }
            for (j, data) in (encryption?["dataDiskImages"]?.arrayValue ?? []).enumerated() {
                if let set = data["diskEncryptionSetId"]?.stringValue {
                    try requireDiskEncryptionSet(set, target: "\(path).dataDiskImages[\(j)].diskEncryptionSetId")
                }
            }
        }
        let mode = profile["replicationMode"]?.stringValue ?? "Full"
        if let previous {
            let had = previous["replicationMode"]?.stringValue ?? "Full"
            guard had.lowercased() == mode.lowercased() else {
                throw ARMError(
                    409, "PropertyChangeNotAllowed",
                    "Changing property 'galleryImageVersion.properties.publishingProfile.replicationMode' is not allowed.",
                    target: "galleryImageVersion.properties.publishingProfile.replicationMode")
            }
        }
        guard mode == "Shallow" else { return }
        let names = regions.compactMap { $0["name"]?.stringValue.map(Self.normalizeLocation) }
        guard names.allSatisfy({ $0 == Self.normalizeLocation(location) }), names.count <= 1 else {
            throw ARMError(
                400, "InvalidParameter",
                "A gallery image version with replicationMode 'Shallow' can only be in its own region '\(location)': it cannot replicate to \(names.filter { $0 != Self.normalizeLocation(location) }.joined(separator: ", ")).",
                target: "publishingProfile.targetRegions")
        }
        let counts = [profile["replicaCount"]?.intValue] + regions.map { $0["regionalReplicaCount"]?.intValue }
        guard counts.allSatisfy({ ($0 ?? 1) <= 1 }) else {
            throw ARMError(
                400, "InvalidParameter",
                "A gallery image version with replicationMode 'Shallow' has one replica: replicaCount and regionalReplicaCount must be 1.",
                target: "publishingProfile.replicaCount")
        }
    }
}
