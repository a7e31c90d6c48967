import Foundation

/// The endpoints of one Azure cloud: where ARM, Entra ID (login) and IMDS are, and which
/// audience ARM tokens are issued for.
///
/// Well-known clouds are `.public`, `.china` and `.usGovernment`; a custom cloud (Azure
/// Stack Hub, a private cloud) comes from its ARM metadata endpoint through
/// `AzureCloud.discover`; `AzureCloud.emulator` points every endpoint at `kiln emulator`.
public struct AzureCloud: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The cloud's name as azure-cli spells it (`AzureCloud`, `AzureChinaCloud`, ...).
    public var name: String
    /// ARM's base URL, e.g. `https://management.azure.com`.
    public var resourceManager: URL
    /// Entra ID's authority host, e.g. `https://login.microsoftonline.com`.
    public var authorityHost: URL
    /// The token audience (resource) for ARM, e.g. `https://management.azure.com/`.
    public var armAudience: String
    /// IMDS's base URL; the same link-local address in every real cloud.
    public var imds: URL
    /// The Blob service (remote state), when it is not the cloud's usual
    /// `<account>.blob.<suffix>` (the emulator's path-style URL).
    public var blob: BlobServiceEndpoint?

    /// The Blob service of this cloud: `blob`, or the well-known host suffix of its name.
    public var blobService: BlobServiceEndpoint {
        if let blob { return blob }
        switch name {
        case AzureCloud.china.name: return .hostStyle(suffix: "blob.core.chinacloudapi.cn")
        case AzureCloud.usGovernment.name: return .hostStyle(suffix: "blob.core.usgovcloudapi.net")
        default: return .azure
        }
    }

    public init(
        name: String, resourceManager: URL, authorityHost: URL, armAudience: String, imds: URL = AzureCloud.defaultIMDS
    ) {
        self.name = name
        self.resourceManager = resourceManager
        self.authorityHost = authorityHost
        self.armAudience = armAudience
        self.imds = imds
    }

    public static let defaultIMDS = URL(string: "http://169.254.169.254")!

    public static let `public` = AzureCloud(
        name: "AzureCloud",
        resourceManager: URL(string: "https://management.azure.com")!,
        authorityHost: URL(string: "https://login.microsoftonline.com")!,
        armAudience: "https://management.azure.com/"
    )
    public static let china = AzureCloud(
        name: "AzureChinaCloud",
        resourceManager: URL(string: "https://management.chinacloudapi.cn")!,
        authorityHost: URL(string: "https://login.chinacloudapi.cn")!,
        armAudience: "https://management.chinacloudapi.cn/"
    )
    public static let usGovernment = AzureCloud(
        name: "AzureUSGovernment",
        resourceManager: URL(string: "https://management.usgovcloudapi.net")!,
        authorityHost: URL(string: "https://login.microsoftonline.us")!,
        armAudience: "https://management.usgovcloudapi.net/"
    )

    /// A well-known cloud by name: `public`/`AzureCloud`, `china`/`AzureChinaCloud`,
    /// `usgovernment`/`AzureUSGovernment` (case-insensitive); nil for anything else.
    public static func named(_ name: String) -> AzureCloud? {
        switch name.lowercased() {
        case "public", "azurecloud", "azurepubliccloud": .public
        case "china", "azurechinacloud": .china
        case "usgovernment", "usgov", "azureusgovernment", "azureusgovernmentcloud": .usGovernment
        default: nil
        }
    }

    /// Every endpoint at the emulator: ARM, login and IMDS may be separate listeners
    /// (as `endpoints.json` lists them) or one base URL for all three. The token audience
    /// defaults to the ARM URL itself, as the Azure SDKs do for a custom base URL.
    public static func emulator(
        arm: URL, login: URL? = nil, imds: URL? = nil, blob: URL? = nil, audience: String? = nil
    ) -> AzureCloud {
        var audience = audience ?? arm.absoluteString
        if !audience.hasSuffix("/") { audience += "/" }
        var cloud = AzureCloud(
            name: "KilnEmulator", resourceManager: arm, authorityHost: login ?? arm, armAudience: audience,
            imds: imds ?? arm)
        cloud.blob = blob.map { .pathStyle(base: $0) }
        return cloud
    }

    /// The OAuth2 scope for ARM tokens: the audience plus `/.default` (one slash).
    public var armScope: String { Self.scope(forAudience: armAudience) }

    static func scope(forAudience audience: String) -> String {
        audience.hasSuffix("/") ? audience + ".default" : audience + "/.default"
    }

    /// The v1 `resource` for a v2 scope: `https://x/.default` -> `https://x/` (IMDS and
    /// the Azure CLI take resources, and ARM's resource has a trailing slash).
    static func resource(forScope scope: String) -> String {
        var s = scope
        if s.hasSuffix("/.default") {
            s.removeLast(".default".count)
        } else if s.hasSuffix(".default") {
            s.removeLast(".default".count)
        }
        if !s.hasSuffix("/") { s += "/" }
        return s
    }

    public var description: String {
        "\(name) (ARM \(resourceManager.absoluteString), login \(authorityHost.absoluteString))"
    }
}

/// Why a cloud could not be discovered from its ARM metadata endpoint.
public struct AzureCloudDiscoveryError: Error, Sendable, CustomStringConvertible {
    public var endpoint: String
    public var reason: String
    public var description: String {
        "cannot read the cloud's endpoints from \(endpoint): \(reason); check the ARM endpoint URL, or name a well-known cloud (public, china, usgovernment)"
    }
}

extension AzureCloud {
    /// Reads a custom cloud's endpoints from `GET {arm}/metadata/endpoints?api-version=2022-09-01`
    /// (no authentication). Uses `resourceManager`, `authentication.loginEndpoint` and
    /// `authentication.audiences[0]`; the IMDS address stays the link-local default unless given.
    public static func discover(
        armEndpoint: URL,
        transport: any AzureHTTPTransport,
        imds: URL = AzureCloud.defaultIMDS,
        timeout: Duration = .seconds(20)
    ) async throws -> AzureCloud {
        let url = armEndpoint.appendingArmPath("/metadata/endpoints", query: [("api-version", "2022-09-01")])
        let response: AzureHTTPResponse
        do {
            response = try await transport.send(AzureHTTPRequest(method: .get, url: url, timeout: timeout))
        } catch let error as AzureTransportError {
            throw AzureCloudDiscoveryError(endpoint: url.redactedForDisplay, reason: error.description)
        }
        guard response.status == 200 else {
            throw AzureCloudDiscoveryError(endpoint: url.redactedForDisplay, reason: "HTTP \(response.status)")
        }
        struct Metadata: Decodable {
            struct Authentication: Decodable {
                var loginEndpoint: String?
                var audiences: [String]?
            }
            var name: String?
            var resourceManager: String?
            var authentication: Authentication?
        }
        let metadata: Metadata
        do {
            metadata = try JSONDecoder().decode(Metadata.self, from: response.body)
        } catch {
            throw AzureCloudDiscoveryError(
                endpoint: url.redactedForDisplay, reason: "the answer is not the 2022-09-01 metadata object (\(error))")
        }
        guard let login = metadata.authentication?.loginEndpoint.flatMap(URL.init(string:)),
            let audience = metadata.authentication?.audiences?.first
        else {
            throw AzureCloudDiscoveryError(
                endpoint: url.redactedForDisplay,
                reason: "authentication.loginEndpoint or authentication.audiences is missing")
        }
        let arm = metadata.resourceManager.flatMap(URL.init(string:)) ?? armEndpoint
        return AzureCloud(
            name: metadata.name ?? "Custom", resourceManager: arm, authorityHost: login, armAudience: audience,
            imds: imds)
    }
}

extension URL {
    /// This base URL with `path` appended (exactly one slash between) and `query` added;
    /// query values are percent-encoded for a query component.
    func appendingArmPath(_ path: String, query: [(String, String)] = []) -> URL {
        var base = absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        var text = base + (path.hasPrefix("/") ? path : "/" + path)
        if !query.isEmpty {
            text += "?" + query.map { "\($0.0.armQueryEncoded)=\($0.1.armQueryEncoded)" }.joined(separator: "&")
        }
        return URL(string: text)!
    }
}

extension String {
    /// Percent-encoding for a query name or value (also encodes `&`, `=`, `+`, `$` is kept).
    var armQueryEncoded: String {
        var allowed = CharacterSet.asciiAlphanumerics
        allowed.insert(charactersIn: "-._~$")
        return addingPercentEncoding(withAllowedCharacters: allowed) ?? self
    }

    /// Percent-encoding for one path segment.
    var armPathEncoded: String {
        var allowed = CharacterSet.asciiAlphanumerics
        allowed.insert(charactersIn: "-._~()")
        return addingPercentEncoding(withAllowedCharacters: allowed) ?? self
    }
}

extension CharacterSet {
    /// A-Z, a-z, 0-9 only (`.alphanumerics` also holds non-ASCII letters, which must be encoded).
    static let asciiAlphanumerics = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}
