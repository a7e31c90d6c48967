import Model

/// What the build's source says about the images made from it: its generation, CPU
/// architecture, which security types VMs of it may boot with, and its size. Read once per
/// plan (a platform image version's GET, a disk's GET, a gallery version's definition).
public struct SourceTraits: Sendable, Hashable, Codable {
    public var hyperVGeneration: HyperVGeneration?
    public var architecture: Architecture?
    /// The source's `SecurityType` feature (a platform image's, a gallery definition's), or
    /// the security type of a source disk; nil: none stated (Standard only).
    public var securityFeature: String?
    /// Whether `securityFeature` is known to be what Azure checks: a platform image's or a
    /// gallery definition's feature. A disk's security type says what it is, not what it
    /// supports, so it never refuses a choice.
    public var featureIsAuthoritative: Bool
    /// The OS disk's size in GB, when the source states it.
    public var sizeGB: Int?
    /// What the source is, for messages: "the platform image Canonical:…", "the source disk …".
    public var what: String

    public init(
        what: String, hyperVGeneration: HyperVGeneration? = nil, architecture: Architecture? = nil,
        securityFeature: String? = nil, featureIsAuthoritative: Bool = false, sizeGB: Int? = nil
    ) {
        self.what = what
        self.hyperVGeneration = hyperVGeneration
        self.architecture = architecture
        self.securityFeature = securityFeature
        self.featureIsAuthoritative = featureIsAuthoritative
        self.sizeGB = sizeGB
    }
}

/// The security type, architecture and generation a build's images get, with the reason
/// the plan shows, chosen from the manifest, the source and an existing image definition.
public struct ImageTraits: Sendable, Hashable {
    public var securityType: SecurityType
    /// Why this security type (shown by `plan`).
    public var securityReason: String
    public var architecture: Architecture
    public var hyperVGeneration: HyperVGeneration
    /// The temporary OS disk's `securityProfile.securityType`: nil (standard) unless the
    /// source or the definition demands one (a `TrustedLaunch`-only definition, say).
    public var diskSecurityType: String?
    /// The `SecurityType` feature a new image definition gets.
    public var definitionFeature: String?
    /// Whether the builder VM runs the image's programs under emulation (another architecture).
    public var emulated = false

    public init(
        securityType: SecurityType, securityReason: String, architecture: Architecture,
        hyperVGeneration: HyperVGeneration, diskSecurityType: String? = nil, definitionFeature: String? = nil
    ) {
        self.securityType = securityType
        self.securityReason = securityReason
        self.architecture = architecture
        self.hyperVGeneration = hyperVGeneration
        self.diskSecurityType = diskSecurityType
        self.definitionFeature = definitionFeature ?? securityType.definitionFeature
    }

    /// Chooses the traits of `build`'s images, or says why the manifest asks for something
    /// Azure would refuse (as a plan conflict, before any disk is made).
    ///
    /// - Parameters:
    ///   - source: the source's traits (nil for an empty disk).
    ///   - definitionFeature: the `SecurityType` feature of the existing image definition the
    ///     build publishes into, when it exists (`.some(nil)`: it exists without one).
    ///   - builder: the builder VM's architecture (an empty disk's, when nothing else says).
    public static func choose(
        for build: Build, source: SourceTraits?, definitionFeature: String??, builder: Architecture
    ) -> Result<ImageTraits, ImageTraitsConflict> {
        // Azure's default generation, and an empty disk's (see CreateDiskExecutor), is V1.
        let generation = build.disk.hyperVGeneration ?? source?.hyperVGeneration ?? .v1
        let architecture = source?.architecture ?? builder
        if architecture != builder, build.mount.emulationMode == .off {
            return .failure(
                .init(
                    property: "mount.emulation",
                    message:
                        "the image is \(architecture) (\(source?.what ?? "the source")) and this VM is \(builder), and mount.emulation is off",
                    fix:
                        "build on a \(architecture) VM, or set mount.emulation: auto to run the steps under qemu-user-static"
                ))
        }
        let publishesImage = build.outputs.image != nil && !build.outputs.skip
        let fromImage: Bool
        switch build.source {
        case .platformImage, .galleryImageVersion: fromImage = true
        case .disk, .scratch: fromImage = false
        }
        // A source that demands a type (a `TrustedLaunch`-only gallery image) makes disks of it.
        let sourceDemands: String? = {
            guard let f = source?.securityFeature?.lowercased(), source?.featureIsAuthoritative == true else {
                return nil
            }
            return f == "trustedlaunch" ? SecurityType.trustedLaunch.rawValue : nil
        }()
        func traits(_ type: SecurityType, _ reason: String) -> Result<ImageTraits, ImageTraitsConflict> {
            var diskType: String?
            var newFeature: String?
            if let demanded = sourceDemands {
                diskType = demanded
                newFeature = demanded
            } else if case .some(let feature) = definitionFeature {
                diskType = type.temporaryDiskType(forDefinitionFeature: feature)
            }
            if diskType != nil, !fromImage {
                return .failure(
                    .init(
                        property: "disk.securityType",
                        message:
                            "the image definition takes only \(diskType ?? "") sources, and Azure sets a disk's security type only when it is made from an image (not a \(build.source.kindName))",
                        fix: "build from a platform image or gallery image, or publish into another image definition"))
            }
            var chosen = ImageTraits(
                securityType: type, securityReason: reason, architecture: architecture,
                hyperVGeneration: generation, diskSecurityType: diskType, definitionFeature: newFeature)
            chosen.emulated = architecture != builder
            return .success(chosen)
        }
        func conflict(_ property: String, _ message: String, _ fix: String) -> Result<ImageTraits, ImageTraitsConflict>
        {
            .failure(.init(property: property, message: message, fix: fix))
        }
        if let wanted = build.disk.securityType, wanted != .standard {
            if generation == .v1 {
                return conflict(
                    "disk.securityType", "\(wanted.rawValue) needs a generation 2 image, and this build's is V1",
                    "use a V2 source (or disk.hyperVGeneration: V2), or securityType: Standard")
            }
            if publishesImage {
                return conflict(
                    "disk.securityType",
                    "a managed image cannot boot \(wanted.rawValue) VMs (Azure boots them from gallery images only)",
                    "publish to a gallery (outputs.gallery) instead of outputs.image, or use securityType: Standard")
            }
            if let source, source.featureIsAuthoritative, !wanted.isSupported(bySourceFeature: source.securityFeature) {
                return conflict(
                    "disk.securityType",
                    "\(source.what) does not support \(wanted.rawValue) VMs (its SecurityType feature is \(source.securityFeature ?? "absent"))",
                    "pick a source that supports it, or leave disk.securityType out")
            }
            if case .some(let feature) = definitionFeature, !wanted.isAdmitted(byDefinitionFeature: feature) {
                return conflict(
                    "outputs.gallery.definition",
                    "the existing image definition's SecurityType feature is \(feature ?? "absent"), which does not let \(wanted.rawValue) VMs boot, and Azure does not let it change",
                    "publish into a new image definition (Kiln creates it), or use a security type it admits")
            }
            return traits(wanted, "disk.securityType says so")
        }
        if build.disk.securityType == .standard {
            if case .some(let feature) = definitionFeature,
                !SecurityType.standard.isAdmitted(byDefinitionFeature: feature)
            {
                return conflict(
                    "outputs.gallery.definition",
                    "the existing image definition's SecurityType feature is \(feature ?? "absent"), which does not let Standard VMs boot",
                    "publish into a new image definition, or leave disk.securityType out")
            }
            return traits(.standard, "disk.securityType says so")
        }
        // Azure's default for new generation 2 VMs is Trusted Launch; take it wherever it can boot.
        if publishesImage {
            return traits(.standard, "a managed image is published, and managed images cannot boot Trusted Launch VMs")
        }
        if generation == .v1 { return traits(.standard, "the image is generation 1") }
        guard let source, SecurityType.trustedLaunch.isSupported(bySourceFeature: source.securityFeature) else {
            return traits(.standard, "\(source?.what ?? "an empty disk") states no Trusted Launch support")
        }
        if case .some(let feature) = definitionFeature {
            if SecurityType.trustedLaunch.isAdmitted(byDefinitionFeature: feature) {
                return traits(
                    .trustedLaunch, "the existing image definition lets Trusted Launch VMs boot (\(feature ?? ""))")
            }
            return traits(
                .standard,
                "the existing image definition's SecurityType feature (\(feature ?? "none")) does not let Trusted Launch VMs boot, and Azure cannot add it later"
            )
        }
        return traits(.trustedLaunch, "\(source.what) supports Trusted Launch and is generation 2")
    }
}

/// Why a build's security type cannot be what it asks for.
public struct ImageTraitsConflict: Error, Sendable, Hashable {
    public var property: String
    public var message: String
    public var fix: String
}
