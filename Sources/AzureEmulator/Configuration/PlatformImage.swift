import Foundation

/// One platform image version of the catalog.
public struct PlatformImage: Sendable, Codable, Equatable {
    public var publisher: String
    public var offer: String
    public var sku: String
    public var version: String
    public var hyperVGeneration: String
    public var osType: String = "Linux"
    public var sizeGB: Int = 30
    public var architecture: ImageArchitecture = .x64

    public init(
        publisher: String, offer: String, sku: String, version: String, hyperVGeneration: String, sizeGB: Int = 30,
        architecture: ImageArchitecture = .x64
    ) {
        self.publisher = publisher
        self.offer = offer
        self.sku = sku
        self.version = version
        self.hyperVGeneration = hyperVGeneration
        self.sizeGB = sizeGB
        self.architecture = architecture
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        publisher = try c.decode(String.self, forKey: .publisher)
        offer = try c.decode(String.self, forKey: .offer)
        sku = try c.decode(String.self, forKey: .sku)
        version = try c.decode(String.self, forKey: .version)
        hyperVGeneration = try c.decodeIfPresent(String.self, forKey: .hyperVGeneration) ?? "V2"
        osType = try c.decodeIfPresent(String.self, forKey: .osType) ?? "Linux"
        sizeGB = try c.decodeIfPresent(Int.self, forKey: .sizeGB) ?? 30
        let spelled = try c.decodeIfPresent(String.self, forKey: .architecture) ?? ImageArchitecture.x64.rawValue
        guard let architecture = ImageArchitecture(spelling: spelled) else {
            throw ConfigurationError(
                message:
                    "platform image \(publisher):\(offer):\(sku):\(version): architecture '\(spelled)' is neither x64 nor Arm64"
            )
        }
        self.architecture = architecture
    }

    public var key: PlatformImageKey {
        PlatformImageKey(
            publisher: publisher, offer: offer, sku: sku, version: version, hyperVGeneration: hyperVGeneration,
            architecture: architecture)
    }

    /// The `SecurityType` feature the image version answers with. Azure's x64 Gen2 Ubuntu
    /// images say `TrustedLaunchSupported` (azure-docs `trusted-launch-faq.md`, "How can I
    /// validate if OS image supports Trusted Launch?"); Gen1 images have none, and neither
    /// has the Arm64 image of this catalog (Azure's Arm64 Ubuntu images had none when
    /// azure-cli issue 27975 was filed; newer ones on Cobalt 100 may: not verified).
    var securityFeature: ImageSecurityFeature? {
        hyperVGeneration.uppercased() == "V2" && architecture == .x64 ? .trustedLaunchSupported : nil
    }

    /// Two versions of a Gen2 image, one Gen1 image and one Arm64 (Gen2) image.
    public static let defaultCatalog: [PlatformImage] = [
        PlatformImage(
            publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "24.04.202501010",
            hyperVGeneration: "V2"),
        PlatformImage(
            publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "24.04.202502010",
            hyperVGeneration: "V2"),
        PlatformImage(
            publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server-gen1", version: "24.04.202501010",
            hyperVGeneration: "V1"),
        PlatformImage(
            publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server-arm64", version: "24.04.202501010",
            hyperVGeneration: "V2", architecture: .arm64)
    ]
}
