import Foundation
import Model
import Providers

/// Where Kiln's Azure calls go and how it authenticates: real Azure from the manifest's
/// settings, or a `kiln emulator` described by its `endpoints.json`.
public struct AzureTarget: Sendable {
    public var cloud: AzureCloud
    /// Resolved later for a custom cloud (its ARM metadata endpoint is read first).
    public var customMetadataEndpoint: URL?
    public var credential: AzureCredentialKind
    /// `AZURE_*` variables for the credential (built from the manifest's settings).
    public var environment: [String: String]
    public var managedIdentityClientID: String?
    public var caFile: String?
    /// Where the `disk/azure/...` links of attached disks appear.
    public var deviceRoot: String
    public var isEmulator: Bool

    /// Real Azure, as the manifest's `azure:` section says. Secrets are read from the
    /// environment variables the manifest names; nothing secret is kept elsewhere.
    public static func azure(_ settings: AzureSettings, environment: [String: String]) -> AzureTarget {
        var cloud = AzureCloud.public
        switch settings.cloud {
        case .public, .custom: cloud = .public
        case .china: cloud = .china
        case .usgovernment: cloud = .usGovernment
        }
        let c = settings.credential
        var env = environment
        if let id = c.clientId { env["AZURE_CLIENT_ID"] = id }
        if let tenant = settings.tenant { env["AZURE_TENANT_ID"] = tenant }
        if let name = c.clientSecretEnv { env["AZURE_CLIENT_SECRET"] = environment[name] }
        if let path = c.clientCertificatePath { env["AZURE_CLIENT_CERTIFICATE_PATH"] = path }
        if let file = c.federatedTokenFile { env["AZURE_FEDERATED_TOKEN_FILE"] = file }
        // Without a token file, an OIDC endpoint (GitHub Actions' by default, found by its
        // variables) is asked for a fresh federated token whenever one is needed: its tokens
        // live minutes, builds longer. The default chain uses it too, after a secret or a
        // certificate in the environment.
        if [.federatedToken, .default, .environment].contains(c.kind), c.federatedTokenFile == nil,
            let url = c.oidcRequestURL ?? environment["ACTIONS_ID_TOKEN_REQUEST_URL"],
            let token = environment[c.oidcRequestTokenEnv ?? "ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
        {
            env[EnvironmentCredential.oidcRequestURLVariable] = url
            env[EnvironmentCredential.oidcRequestTokenVariable] = token
        }
        let kind: AzureCredentialKind =
            switch c.kind {
            case .default: .default
            case .environment, .clientSecret, .clientCertificate: .environment
            case .federatedToken: .workloadIdentity
            case .managedIdentity: .managedIdentity
            case .azureCLI: .azureCLI
            }
        return AzureTarget(
            cloud: cloud,
            customMetadataEndpoint: settings.cloud == .custom
                ? settings.metadataEndpoint.flatMap(URL.init(string:)) : nil,
            credential: kind, environment: env,
            managedIdentityClientID: c.kind == .managedIdentity ? c.clientId : nil,
            caFile: nil, deviceRoot: "/dev", isEmulator: false)
    }

    /// A running emulator, from the `endpoints.json` it wrote, as seen from its builder VM
    /// `vm` (that VM's IMDS and device root; VM 0 by default). Throws `SessionError` when
    /// the file is unreadable or the emulator has no builder VM `vm`.
    public static func emulator(endpointsFile path: String, vm: Int = 0) throws -> AzureTarget {
        struct Endpoints: Decodable {
            struct Credential: Decodable {
                var tenantId: String
                var clientId: String
                var clientSecret: String?
            }
            struct BuilderVM: Decodable {
                var index: Int
                var imds: String
                var deviceRoot: String
            }
            var arm: String
            var login: String
            var imds: String
            var blob: String?
            var caFile: String?
            var deviceRoot: String
            var builderVMs: [BuilderVM]?
            var credential: Credential
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SessionError(
                message: "cannot read the emulator's endpoints file \(path): \(error.localizedDescription)")
        }
        let e: Endpoints
        do { e = try JSONDecoder().decode(Endpoints.self, from: data) } catch {
            throw SessionError(message: "\(path) is not an emulator endpoints file: \(error)")
        }
        let vms = e.builderVMs ?? [Endpoints.BuilderVM(index: 0, imds: e.imds, deviceRoot: e.deviceRoot)]
        guard let chosen = vms.first(where: { $0.index == vm }) else {
            throw SessionError(
                message:
                    "--emulator-vm \(vm): the emulator of \(path) has \(vms.count) builder VM\(vms.count == 1 ? "" : "s") (0…\(vms.count - 1)); start it with 'kiln emulator serve --builder-vms N' for more"
            )
        }
        guard let arm = URL(string: e.arm), let login = URL(string: e.login), let imds = URL(string: chosen.imds) else {
            throw SessionError(message: "\(path) has malformed URLs")
        }
        var env = ["AZURE_TENANT_ID": e.credential.tenantId, "AZURE_CLIENT_ID": e.credential.clientId]
        if let secret = e.credential.clientSecret { env["AZURE_CLIENT_SECRET"] = secret }
        return AzureTarget(
            cloud: .emulator(arm: arm, login: login, imds: imds, blob: e.blob.flatMap(URL.init(string:))),
            customMetadataEndpoint: nil, credential: .environment,
            environment: env, managedIdentityClientID: nil, caFile: e.caFile, deviceRoot: chosen.deviceRoot,
            isEmulator: true
        )
    }
}

extension AzureTarget {
    /// Against a running emulator, authenticates as the manifest's `azure.credential` says
    /// instead of with the endpoints file's app (an emulator may register several apps, with
    /// secrets and certificates; its endpoints file names only the first). A `default`
    /// credential keeps the endpoints file's app; the tenant defaults to the emulator's.
    public mutating func useManifestCredential(_ settings: AzureSettings, environment: [String: String]) {
        guard settings.credential.kind != .default else { return }
        let own = AzureTarget.azure(settings, environment: environment)
        var env = own.environment
        if env["AZURE_TENANT_ID"] == nil { env["AZURE_TENANT_ID"] = self.environment["AZURE_TENANT_ID"] }
        self.environment = env
        credential = own.credential
        managedIdentityClientID = own.managedIdentityClientID
    }
}

/// A setup problem before any action runs (unreadable endpoints, no IMDS, …).
public struct SessionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
