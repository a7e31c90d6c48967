import Model
import Providers

/// A gallery image definition as it is in Azure: what a plan compares with the manifest.
/// Its identifier, texts, end of life and recommendations are read into the manifest's own
/// shape (`GalleryDefinitionSettings`); its features are by name.
public struct ObservedDefinition: Sendable, Hashable, Codable {
    public var settings: GalleryDefinitionSettings
    public var osType: String?
    public var hyperVGeneration: String?
    public var architecture: String?
    /// Features by name (`SecurityType`, `DiskControllerTypes`, …).
    public var features: [String: String]
    public var provisioningState: String?

    public init(
        settings: GalleryDefinitionSettings = GalleryDefinitionSettings(), osType: String? = "Linux",
        hyperVGeneration: String? = nil, architecture: String? = nil, features: [String: String] = [:],
        provisioningState: String? = "Succeeded"
    ) {
        self.settings = settings
        self.osType = osType
        self.hyperVGeneration = hyperVGeneration
        self.architecture = architecture
        self.features = features
        self.provisioningState = provisioningState
    }

    public init(_ g: AzureGalleryImage) {
        var features: [String: String] = [:]
        for f in g.features ?? [] {
            if let name = f.name, let value = f.value { features[name] = value }
        }
        self.init(
            settings: GalleryDefinitionSettings(
                publisher: g.identifier?.publisher, offer: g.identifier?.offer, sku: g.identifier?.sku,
                description: g.description, eula: g.eula, privacyStatementUri: g.privacyStatementUri,
                releaseNoteUri: g.releaseNoteUri, endOfLifeDate: g.endOfLifeDate.flatMap(AzureDateTime.init(parsing:)),
                recommendedVCPUs: g.recommendedVCPUs, recommendedMemoryGB: g.recommendedMemoryGB),
            osType: g.osType, hyperVGeneration: g.hyperVGeneration, architecture: g.architecture, features: features,
            provisioningState: g.provisioningState.azureText)
    }

    /// The value of feature `name` (case-insensitive).
    public func feature(_ name: String) -> String? {
        features.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}
