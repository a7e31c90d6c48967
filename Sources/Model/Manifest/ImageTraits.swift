/// What an image is beyond its bytes, in Azure's words: how VMs made from it boot (security
/// type), which CPUs run it (architecture), and what its gallery image definition promises.

/// How VMs boot from the image. The names are Azure's disk `securityProfile.securityType`
/// values, plus `Standard` (no security profile).
public enum SecurityType: String, Sendable, Hashable, Codable, CaseIterable {
    case standard = "Standard"
    case trustedLaunch = "TrustedLaunch"
    /// A confidential VM whose guest state (not its disk) is encrypted with a platform key.
    case confidentialVMGuestStateOnly = "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey"
    /// A confidential VM whose OS disk is encrypted with a platform key.
    case confidentialVMDiskEncryptedWithPlatformKey = "ConfidentialVM_DiskEncryptedWithPlatformKey"
    /// A confidential VM whose OS disk is encrypted with a customer key (a disk encryption set).
    case confidentialVMDiskEncryptedWithCustomerKey = "ConfidentialVM_DiskEncryptedWithCustomerKey"

    public var isConfidential: Bool { self != .standard && self != .trustedLaunch }

    /// The `SecurityType` feature of a new gallery image definition whose VMs may boot with
    /// this type: `TrustedLaunchSupported` (Trusted Launch or standard VMs),
    /// `ConfidentialVmSupported` (confidential or standard); none for `Standard`. Azure
    /// takes a version into such a definition only from a source without a security type
    /// (docs/emulator.md, "Security types"), so the temporary disk stays standard.
    public var definitionFeature: String? {
        switch self {
        case .standard: nil
        case .trustedLaunch: "TrustedLaunchSupported"
        default: "ConfidentialVmSupported"
        }
    }

    /// Whether a disk made from a source (a platform image, a gallery image) whose
    /// `SecurityType` feature is `feature` can boot VMs of this type. No feature: standard
    /// only; `TrustedLaunch` and `ConfidentialVM` demand their type.
    public func isSupported(bySourceFeature feature: String?) -> Bool {
        let f = feature?.lowercased() ?? ""
        switch self {
        case .standard: return f != "trustedlaunch" && f != "confidentialvm"
        case .trustedLaunch: return f.contains("trustedlaunch")
        default: return f.contains("confidentialvm")
        }
    }

    /// Whether an existing image definition whose `SecurityType` feature is `feature` lets
    /// VMs of this type boot (`…Supported`: that type or standard; `TrustedLaunch`,
    /// `ConfidentialVM`: only that type; none: standard only).
    public func isAdmitted(byDefinitionFeature feature: String?) -> Bool {
        switch feature?.lowercased() {
        case nil: self == .standard
        case "trustedlaunchsupported": self == .standard || self == .trustedLaunch
        case "trustedlaunch": self == .trustedLaunch
        case "confidentialvmsupported": self == .standard || isConfidential
        case "confidentialvm": isConfidential
        case "trustedlaunchandconfidentialvmsupported": true
        default: false
        }
    }

    /// The security type the temporary OS disk must have for Azure to take a version of it
    /// into a definition whose feature is `feature`: only the `TrustedLaunch` and
    /// `ConfidentialVM` definitions want a source of their type; nil (standard) otherwise.
    public func temporaryDiskType(forDefinitionFeature feature: String?) -> String? {
        switch feature?.lowercased() {
        case "trustedlaunch" where self == .trustedLaunch: rawValue
        case "confidentialvm" where isConfidential: rawValue
        default: nil
        }
    }
}

/// The CPU architecture of an image, as Azure spells it.
public enum Architecture: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case x64
    case arm64 = "Arm64"

    public var description: String { rawValue }

    /// The architecture of a `uname -m` machine name (`x86_64`, `aarch64`); nil for others.
    public init?(machine: String) {
        switch machine.lowercased() {
        case "x86_64", "amd64": self = .x64
        case "aarch64", "arm64": self = .arm64
        default: return nil
        }
    }

    /// Azure's spelling, whatever the case the answer had; nil for anything else.
    public init?(azure text: String?) {
        guard let text, let found = Self.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() })
        else { return nil }
        self = found
    }

    /// The machine name the kernel reports (`uname -m`) and qemu names its emulator after.
    public var machine: String {
        switch self {
        case .x64: "x86_64"
        case .arm64: "aarch64"
        }
    }
}

/// Whether provisioning may run under CPU emulation when the image's architecture differs
/// from the builder VM's (`mount.emulation`).
public enum Emulation: String, Sendable, Hashable, Codable, CaseIterable {
    /// Register Debian's `qemu-user-static` interpreter in `binfmt_misc` for the chroot.
    case auto
    /// Refuse a build for another architecture.
    case off
}

/// How a gallery image version is replicated (`publishingProfile.replicationMode`).
public enum ReplicationMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Full copies in every target region (Azure's default).
    case full = "Full"
    /// Azure's fast mode for test images: the version refers to its source instead of copying it.
    case shallow = "Shallow"
}

/// A storage controller VMs of the image may use (the `DiskControllerTypes` feature).
public enum DiskControllerType: String, Sendable, Hashable, Codable, CaseIterable {
    case scsi = "SCSI"
    case nvme = "NVMe"
}

/// Which version a build publishes: a fixed `MAJOR.MINOR.PATCH`, or `auto`, the next patch
/// version after the highest in the definition (chosen once per run; see design.md).
public enum GalleryVersionSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    case fixed(String)
    case auto

    public var description: String {
        switch self {
        case .fixed(let v): v
        case .auto: "auto"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = text == "auto" ? .auto : .fixed(text)
    }
}

/// The version `auto` chose for a build's digest: kept in the build's journal, so a resumed
/// or repeated apply of the same build publishes that version, never a second one.
public struct ChosenGalleryVersion: Sendable, Hashable, Codable {
    public var digest: String
    public var version: String
    public init(digest: String, version: String) {
        self.digest = digest
        self.version = version
    }

    /// The next patch version after the highest of `versions` (`MAJOR.MINOR.PATCH` names;
    /// others ignored), or `1.0.0` when there is none.
    public static func next(after versions: [String]) -> String {
        guard let highest = highest(of: versions), let parts = ImageVersionOrder.components(highest) else {
            return "1.0.0"
        }
        return "\(parts[0]).\(parts[1]).\(parts[2] + 1)"
    }

    /// The numerically highest `MAJOR.MINOR.PATCH` of `versions` (`ImageVersionOrder`).
    public static func highest(of versions: [String]) -> String? {
        ImageVersionOrder.highest(versions.filter { ImageVersionOrder.components($0)?.count == 3 })
    }
}

/// A range of a recommended VM property (vCPUs, memory in GB) on a gallery image definition.
public struct RecommendedRange: Sendable, Hashable, Codable {
    public var min: Int?
    public var max: Int?
    public init(min: Int? = nil, max: Int? = nil) {
        self.min = min
        self.max = max
    }
}

/// The gallery image definition's settings (`outputs.gallery.definition`). nil fields are
/// Azure's or Kiln's defaults (see docs/manifest.md).
public struct GalleryDefinitionSettings: Sendable, Hashable, Codable {
    /// The identifier; nil: `kiln`, the gallery's name, the definition's name.
    public var publisher: String?
    public var offer: String?
    public var sku: String?
    public var description: String?
    public var eula: String?
    public var privacyStatementUri: String?
    public var releaseNoteUri: String?
    public var endOfLifeDate: AzureDateTime?
    public var recommendedVCPUs: RecommendedRange?
    public var recommendedMemoryGB: RecommendedRange?
    public var diskControllerTypes: [DiskControllerType]?
    public var acceleratedNetworking: Bool?
    public var hibernation: Bool?

    public init(
        publisher: String? = nil, offer: String? = nil, sku: String? = nil, description: String? = nil,
        eula: String? = nil, privacyStatementUri: String? = nil, releaseNoteUri: String? = nil,
        endOfLifeDate: AzureDateTime? = nil, recommendedVCPUs: RecommendedRange? = nil,
        recommendedMemoryGB: RecommendedRange? = nil, diskControllerTypes: [DiskControllerType]? = nil,
        acceleratedNetworking: Bool? = nil, hibernation: Bool? = nil
    ) {
        self.publisher = publisher
        self.offer = offer
        self.sku = sku
        self.description = description
        self.eula = eula
        self.privacyStatementUri = privacyStatementUri
        self.releaseNoteUri = releaseNoteUri
        self.endOfLifeDate = endOfLifeDate
        self.recommendedVCPUs = recommendedVCPUs
        self.recommendedMemoryGB = recommendedMemoryGB
        self.diskControllerTypes = diskControllerTypes
        self.acceleratedNetworking = acceleratedNetworking
        self.hibernation = hibernation
    }
}
