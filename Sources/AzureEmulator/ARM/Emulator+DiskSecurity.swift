import Foundation

/// A new disk's or snapshot's security type and encryption, checked as Azure checks them
/// (docs/emulator.md, "Security types, architecture and encryption" cites each rule).
extension Emulator {
    /// The `SecurityType` feature in a `features` array (`[{name, value}]`), if any.
    static func securityFeature(_ features: JSON?) -> ImageSecurityFeature? {
        let entry = features?.arrayValue?.first { $0["name"]?.stringValue?.lowercased() == "securitytype" }
        return entry?["value"]?.stringValue.flatMap(ImageSecurityFeature.init(spelling:))
    }

    /// Checks the requested `securityProfile` and `encryption` of a new disk or snapshot made
    /// from `source` and completes `props`: a copy keeps its source's security profile, a
    /// set given without an encryption type gets the set's.
    func checkDiskSecurity(
        _ body: BodyReader, createOption: String, source: DiskSource, props: inout JSON
    ) throws(ARMError) {
        let requested = try requestedSecurityType(body)
        if let requested {
            let option = createOption.lowercased()
            guard option == "fromimage" else {
                throw ARMError(
                    400, "BadRequest",
                    "Security Type '\(requested.rawValue)' is not supported for CreateOption '\(option == "copy" ? "Copy" : "Empty")'. Supported create options are FromImage, Import, ImportSecure, UploadPreparedSecure.",
                    target: "securityProfile.securityType")
            }
            if props["hyperVGeneration"]?.stringValue?.uppercased() == "V1" { throw unsupportedImage(requested) }
        }
        switch source {
        case .platform(let image):
            if let requested, !(image.securityFeature?.allowsDisk(requested) ?? false) {
                throw unsupportedImage(requested)
            }
        case .blob(_, let inherit, _):
            if let feature = inherit?["imageSecurity"]?.stringValue.flatMap(ImageSecurityFeature.init(spelling:)) {
                if requested == nil, feature.requiresSecurityType {
                    throw ARMError(
                        400, "BadRequest",
                        "The provided gallery image only supports creation of VMs and VM Scale Sets with '\(feature.rawValue)' security type.",
                        target: "securityProfile.securityType")
                }
                if let requested, !feature.allowsDisk(requested) { throw unsupportedImage(requested) }
            } else if let requested {
                // A managed image or a version of a definition without SecurityType: Gen2 admits
                // Trusted Launch, nothing admits a confidential type.
                let generation = inherit?["hyperVGeneration"]?.stringValue?.uppercased() ?? "V1"
                if requested.isConfidential || generation != "V2" { throw unsupportedImage(requested) }
            }
            if requested == nil, let profile = inherit?["securityProfile"], profile != .null {
                props["securityProfile"] = profile
            }
        case .empty:
            break
        }
        if requested == .confidentialCustomerKey {
            guard let set = try body.string("properties", "securityProfile", "secureVMDiskEncryptionSetId") else {
                throw ARMError.missing("securityProfile.secureVMDiskEncryptionSetId")
            }
            try requireDiskEncryptionSet(set, target: "securityProfile.secureVMDiskEncryptionSetId")
        }
        try checkDiskEncryption(body, props: &props)
    }

    /// `properties.encryption`: a named set must exist; a customer-key type needs one.
    func checkDiskEncryption(_ body: BodyReader, props: inout JSON) throws(ARMError) {
        let type = try body.string("properties", "encryption", "type")
        if let setID = try body.string("properties", "encryption", "diskEncryptionSetId") {
            let set = try requireDiskEncryptionSet(setID, target: "encryption.diskEncryptionSetId")
            if type == nil {
                let setType = set.body.at("properties", "encryptionType")?.stringValue
                let encryptionType =
                    setType == "EncryptionAtRestWithPlatformAndCustomerKeys"
                    ? "EncryptionAtRestWithPlatformAndCustomerKeys" : "EncryptionAtRestWithCustomerKey"
                props.set(["encryption", "type"], .string(encryptionType))
            }
        } else if let type, type.lowercased().contains("customerkey") {
            throw ARMError(
                400, "InvalidParameter",
                "Encryption type '\(type)' needs a disk encryption set: encryption.diskEncryptionSetId is missing.",
                target: "encryption.diskEncryptionSetId")
        }
    }

    func requestedSecurityType(_ body: BodyReader) throws(ARMError) -> DiskSecurityType? {
        guard let text = try body.string("properties", "securityProfile", "securityType") else { return nil }
        guard let type = DiskSecurityType(spelling: text) else {
            throw ARMError(
                400, "InvalidParameter",
                "The value '\(text)' of securityProfile.securityType is not valid; use one of \(DiskSecurityType.allCases.map(\.rawValue).joined(separator: ", ")).",
                target: "securityProfile.securityType")
        }
        return type
    }

    /// Azure's answer to a security type the image cannot have (azure-cli issue 27975, for a
    /// VM; the Trusted Launch FAQ's "Use of TrustedLaunch setting is not supported").
    func unsupportedImage(_ type: DiskSecurityType) -> ARMError {
        let kind = type.isConfidential ? "Confidential VM" : "Trusted Launch"
        return ARMError(
            400, "BadRequest",
            "Use of \(type.vmSecurityType) setting is not supported for the provided image. Please select \(kind) Supported Gen2 OS Image. For more information, see https://aka.ms/TrustedLaunch-FAQ.",
            target: "securityProfile.securityType")
    }

    /// An update may repeat a disk's security type, not change it (azure-powershell issue
    /// 24253: "Changing property 'securityProfile.securityType' is not allowed.").
    func refuseSecurityChange(_ body: BodyReader, existing: StoredResource) throws(ARMError) {
        guard let sent = try requestedSecurityType(body) else { return }
        let had = existing.body.at("properties", "securityProfile", "securityType")?.stringValue
        guard had.flatMap(DiskSecurityType.init(spelling:)) != sent else { return }
        throw ARMError(
            409, "PropertyChangeNotAllowed", "Changing property 'securityProfile.securityType' is not allowed.",
            target: "securityProfile.securityType")
    }
}
