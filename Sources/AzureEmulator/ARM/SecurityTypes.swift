import Foundation

/// An Azure enum read as Azure reads it: case-insensitively, answered in its canonical spelling.
public protocol SpelledEnum: CaseIterable, RawRepresentable where RawValue == String {}

extension SpelledEnum {
    /// The case whose spelling matches `spelling` but for case, nil for anything else.
    public init?(spelling: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == spelling.lowercased() }) else {
            return nil
        }
        self = match
    }
}

/// The CPU architecture of an image, a disk or an image definition (`Architecture` in the
/// DiskRP, ComputeRP and GalleryRP specifications: `x64`, `Arm64`). Absent means x64.
public enum ImageArchitecture: String, Sendable, Codable, CaseIterable, Hashable, SpelledEnum {
    case x64
    case arm64 = "Arm64"

    /// `e_machine` of the ELF executables that run on it (x86-64: 62, AArch64: 183).
    var elfMachine: UInt16 {
        switch self {
        case .x64: 0x3E
        case .arm64: 0xB7
        }
    }

    /// What `uname -m` prints on it, and Debian's name for it.
    var machineName: String {
        switch self {
        case .x64: "x86_64"
        case .arm64: "aarch64"
        }
    }

    var debianName: String {
        switch self {
        case .x64: "amd64"
        case .arm64: "arm64"
        }
    }

    /// The architecture this emulator runs on.
    static var host: ImageArchitecture {
        #if arch(arm64)
            .arm64
        #else
            .x64
        #endif
    }
}

/// A disk's (or snapshot's) `securityProfile.securityType` (`DiskSecurityTypes`, DiskRP
/// 2024-03-02). A disk without one is a Standard disk.
enum DiskSecurityType: String, Sendable, CaseIterable, SpelledEnum {
    case trustedLaunch = "TrustedLaunch"
    case confidentialGuestStateOnly = "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey"
    case confidentialPlatformKey = "ConfidentialVM_DiskEncryptedWithPlatformKey"
    case confidentialCustomerKey = "ConfidentialVM_DiskEncryptedWithCustomerKey"
    case confidentialNonPersistedTPM = "ConfidentialVM_NonPersistedTPM"

    var isConfidential: Bool { self != .trustedLaunch }

    /// How Azure's messages name the VM security type this disk is for.
    var vmSecurityType: String { isConfidential ? "ConfidentialVM" : "TrustedLaunch" }
}

/// The `SecurityType` feature of a platform image or a gallery image definition: which VM
/// security types the image may be used with (azure-docs `shared-image-galleries.md`,
/// "Image definitions"; `trusted-launch-portal.md`). Absent: Standard only.
enum ImageSecurityFeature: String, Sendable, CaseIterable, SpelledEnum {
    case trustedLaunchSupported = "TrustedLaunchSupported"
    case trustedLaunch = "TrustedLaunch"
    case confidentialVMSupported = "ConfidentialVmSupported"
    case confidentialVM = "ConfidentialVM"
    case trustedLaunchAndConfidentialVMSupported = "TrustedLaunchAndConfidentialVmSupported"

    /// Whether a disk of `type` may be made from an image with this feature (nil: Standard).
    func allowsDisk(_ type: DiskSecurityType?) -> Bool {
        guard let type else { return !requiresSecurityType }
        switch self {
        case .trustedLaunchSupported, .trustedLaunch: return !type.isConfidential
        case .confidentialVMSupported, .confidentialVM: return type.isConfidential
        case .trustedLaunchAndConfidentialVMSupported: return true
        }
    }

    /// `TrustedLaunch` and `ConfidentialVM` images hold VM guest state: only VMs of that
    /// security type can be made from them.
    var requiresSecurityType: Bool { self == .trustedLaunch || self == .confidentialVM }

    /// Whether a version whose OS source has `type` may be published under this feature:
    /// the "…Supported" types take sources without VM guest state (Standard ones);
    /// `TrustedLaunch` takes Trusted Launch disks and snapshots (and Standard Gen2 sources),
    /// `ConfidentialVM` only confidential ones (azure-docs `trusted-launch-portal.md`,
    /// "Trusted Launch VM supported images" and "Trusted Launch VM images").
    func admitsSource(_ type: DiskSecurityType?) -> Bool {
        switch self {
        case .trustedLaunchSupported, .confidentialVMSupported, .trustedLaunchAndConfidentialVMSupported:
            return type == nil
        case .trustedLaunch: return type == nil || type == .trustedLaunch
        case .confidentialVM: return type?.isConfidential == true
        }
    }
}
