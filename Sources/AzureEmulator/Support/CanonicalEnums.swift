import Foundation

/// Azure matches the enum values of a request case-insensitively and answers them in their
/// canonical casing, whatever the client sent (`"create_option": "empty"` comes back `Empty`:
/// hashicorp/terraform issues 7373 and 11626). The emulator stores request bodies through
/// `canonical(_:)`, so it answers the same way. The values are those of the Compute
/// specifications' enums, by property name; only a value equal to one of them but for case
/// is rewritten, anything else is left for the handler to judge.
enum CanonicalEnums {
    static let storageTypes = [
        "Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS",
        "PremiumV2_LRS", "Standard_ZRS"
    ]

    static let byProperty: [String: [String]] = [
        "osType": ["Windows", "Linux"],
        "operatingSystem": ["Windows", "Linux"],
        "osState": ["Generalized", "Specialized"],
        "hyperVGeneration": ["V1", "V2"],
        "architecture": ["x64", "Arm64"],
        "createOption": [
            "Empty", "Attach", "FromImage", "Import", "Copy", "Restore", "Upload", "CopyStart", "ImportSecure",
            "UploadPreparedSecure", "CopyFromSanSnapshot"
        ],
        "storageAccountType": storageTypes,
        "caching": ["None", "ReadOnly", "ReadWrite"],
        "hostCaching": ["None", "ReadOnly", "ReadWrite"],
        "deleteOption": ["Delete", "Detach"],
        "replicationMode": ["Full", "Shallow"],
        "networkAccessPolicy": ["AllowAll", "AllowPrivate", "DenyAll"],
        "publicNetworkAccess": ["Enabled", "Disabled"],
        "securityType": [
            "Standard", "TrustedLaunch", "ConfidentialVM", "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey",
            "ConfidentialVM_DiskEncryptedWithPlatformKey", "ConfidentialVM_DiskEncryptedWithCustomerKey",
            "ConfidentialVM_NonPersistedTPM", "TrustedLaunchSupported", "TrustedLaunchAndConfidentialVmSupported",
            "ConfidentialVmSupported"
        ]
    ]

    /// Lower-cased spelling → canonical spelling, per property.
    static let table: [String: [String: String]] = byProperty.mapValues { values in
        Dictionary(values.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// `json` with every known enum value in its canonical casing. Tags are the client's own
    /// words and are left alone; a `sku`'s `name` is a storage type.
    static func canonical(_ json: JSON, property: String? = nil) -> JSON {
        switch json {
        case .object(let object):
            var out: [String: JSON] = [:]
            for (key, value) in object {
                if key == "tags" {
                    out[key] = value
                } else if property == "sku", key == "name", let text = value.stringValue {
                    out[key] = .string(storageTypes.first { $0.lowercased() == text.lowercased() } ?? text)
                } else {
                    out[key] = canonical(value, property: key)
                }
            }
            return .object(out)
        case .array(let items):
            return .array(items.map { canonical($0, property: property) })
        case .string(let text):
            guard let property, let canonical = table[property]?[text.lowercased()] else { return json }
            return .string(canonical)
        default:
            return json
        }
    }
}
