import Foundation
import Model

/// A gallery image definition's properties: checked when it is made, and on an update
/// (re-PUT or PATCH) changed only where Azure lets them change (docs/emulator.md, "Image
/// definition updates", cites the list).
extension Emulator {
    /// Properties an update may change: azure-docs `shared-image-galleries.md` ("Updating
    /// resources": recommended vCPUs and memory, description, end of life date, release notes),
    /// `disallowed` (updated in place by terraform-provider-azurerm's `azurerm_shared_image`).
    static let mutableDefinitionProperties: Set<String> = [
        "description", "endOfLifeDate", "recommended", "releaseNoteUri", "disallowed"
    ]

    /// Properties an update may only repeat: 409 `PropertyChangeNotAllowed` (`eula`:
    /// azure-sdk-for-java issue 28842; the others are ForceNew in `azurerm_shared_image`).
    static let immutableDefinitionProperties: Set<String> = [
        "osType", "osState", "hyperVGeneration", "identifier", "architecture", "eula", "privacyStatementUri",
        "purchasePlan"
    ]

    /// `features` changes only with `allowUpdateImage: true` (GalleryRP 2024-03-03,
    /// `GalleryImage_UpdateFeatures.json`; azure-cli issue 33172).
    static let featuresProperty = "features"

    /// The definition's properties as Azure keeps them: feature values in their canonical
    /// spelling, a `SecurityType` only on V2, a known architecture, `endOfLifeDate` as Azure
    /// spells date-times; `allowUpdateImage` is an instruction, not kept.
    func checkedDefinitionProperties(_ given: JSON) throws(ARMError) -> JSON {
        var props = given
        props["allowUpdateImage"] = nil
        if let text = props["architecture"]?.stringValue, ImageArchitecture(spelling: text) == nil {
            throw ARMError(
                400, "InvalidParameter", "The value '\(text)' of architecture is not valid; use x64 or Arm64.",
                target: "galleryImage.properties.architecture")
        }
        if let text = props["endOfLifeDate"]?.stringValue, let date = AzureDateTime(parsing: text) {
            props["endOfLifeDate"] = .string(date.azureSpelling)
        }
        if let features = props["features"], features != .null {
            guard let items = features.arrayValue else {
                throw ARMError.invalidContent("galleryImage.properties.features must be an array of {name, value}.")
            }
            props["features"] = .array(try items.map(checkedFeature))
            if Self.securityFeature(props["features"]) != nil,
                props["hyperVGeneration"]?.stringValue?.uppercased() != "V2"
            {
                throw ARMError(
                    400, "InvalidParameter",
                    "The feature 'SecurityType' needs a Generation 2 image definition: set hyperVGeneration to V2.",
                    target: "galleryImage.properties.features")
            }
        }
        return props
    }

    /// One `{name, value[, startsAtVersion]}`; an unknown `SecurityType` value is Azure's 400
    /// (azure-cli issue 24142 quotes the text).
    private func checkedFeature(_ item: JSON) throws(ARMError) -> JSON {
        guard let name = item["name"]?.stringValue, let value = item["value"]?.stringValue else {
            throw ARMError.missing("galleryImage.properties.features[].name/value")
        }
        var out = item
        if name.lowercased() == "securitytype" {
            guard let feature = ImageSecurityFeature(spelling: value) else {
                throw ARMError(
                    400, "InvalidParameter",
                    "The value '\(value)' for feature 'SecurityType' is invalid. Allowed characters are English alphanumerical characters with spaces and commas. The length of the value cannot exceed 100 characters.",
                    target: "galleryImage.properties.features")
            }
            out["name"] = "SecurityType"
            out["value"] = .string(feature.rawValue)
        }
        return out
    }

    /// `existing` with the update `sent` applied, or Azure's 409 for a property it cannot change.
    func updatedDefinition(_ existing: JSON, sent: JSON) throws(ARMError) -> JSON {
        let allowFeatures = sent["allowUpdateImage"]?.boolValue == true
        var updated = existing
        for (name, value) in sent.objectValue ?? [:] where name != "provisioningState" && name != "allowUpdateImage" {
            let unchanged = Self.sameSetting(existing[name], value, features: name == Self.featuresProperty)
            if !unchanged,
                Self.immutableDefinitionProperties.contains(name)
                    || (name == Self.featuresProperty && !allowFeatures)
            {
                throw ARMError(
                    409, "PropertyChangeNotAllowed",
                    "Changing property 'galleryImage.properties.\(name)' is not allowed.",
                    target: "galleryImage.properties.\(name)")
            }
            updated[name] = value
        }
        return try checkedDefinitionProperties(updated)
    }

    /// Whether an update repeats a setting: strings match case-insensitively (Azure's enum
    /// reading), features by name and value whatever their order.
    static func sameSetting(_ had: JSON?, _ sent: JSON, features: Bool) -> Bool {
        func folded(_ json: JSON?) -> JSON? {
            switch json {
            case .string(let text)?: .string(text.lowercased())
            case .object(let object)?: .object(object.mapValues { folded($0) ?? .null })
            case .array(let items)?: .array(items.map { folded($0) ?? .null })
            case .null?, nil: nil
            default: json
            }
        }
        guard features else { return folded(had) == folded(sent) }
        func pairs(_ json: JSON?) -> Set<String> {
            Set(
                (json?.arrayValue ?? []).map {
                    "\($0["name"]?.stringValue?.lowercased() ?? "")=\($0["value"]?.stringValue?.lowercased() ?? "")"
                })
        }
        return pairs(had) == pairs(sent)
    }
}
