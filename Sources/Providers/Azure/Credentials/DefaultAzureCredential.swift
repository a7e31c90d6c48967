import Foundation

/// Tries credentials in order, like `DefaultAzureCredential`: the first that gives a token
/// is used from then on. A credential that is `.unavailable` passes to the next; any other
/// failure stops the chain (a wrong secret must not be masked by a CLI login). When all are
/// unavailable, the error lists what each one said.
public actor ChainedTokenCredential: TokenCredential {
    public nonisolated let name: String
    private let credentials: [any TokenCredential]
    private var chosen: (any TokenCredential)?

    public init(_ credentials: [any TokenCredential], name: String = "default credential chain") {
        self.credentials = credentials
        self.name = name
    }

    /// The credential that answered first, once one has.
    public var chosenName: String? { chosen?.name }

    public func token(for scope: String) async throws -> AzureAccessToken {
        if let chosen { return try await chosen.token(for: scope) }
        var reasons: [String] = []
        for credential in credentials {
            do {
                let token = try await credential.token(for: scope)
                chosen = credential
                return token
            } catch let error as AzureCredentialError where error.kind == .unavailable {
                reasons.append(error.description)
            }
        }
        throw AzureCredentialError(
            kind: .unavailable, credential: name,
            reason: reasons.isEmpty
                ? "no credential is configured" : "no credential gave a token: " + reasons.joined(separator: " | "),
            hint:
                "set AZURE_CLIENT_ID and AZURE_TENANT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE; or run on a VM with a managed identity; or run az login"
        )
    }
}

/// Which credential to use: the default chain, or one chosen in the manifest or by flag.
public enum AzureCredentialKind: String, Sendable, Codable, CaseIterable {
    /// Environment, then managed identity, then the Azure CLI.
    case `default`
    /// `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH` or `AZURE_FEDERATED_TOKEN_FILE`.
    case environment
    case workloadIdentity = "workload-identity"
    case managedIdentity = "managed-identity"
    case azureCLI = "azure-cli"
}

/// Builds credentials from the environment, in `DefaultAzureCredential`'s order.
public enum AzureCredentialFactory {
    /// The credential for `kind`, reading `environment` (pass `ProcessInfo.processInfo.environment`).
    /// The result caches tokens and refreshes them `refreshMargin` before they expire.
    ///
    /// `AZURE_AUTHORITY_HOST` overrides the cloud's login host, as in the Azure SDKs.
    /// `managedIdentityClientID` selects a user-assigned identity (else `AZURE_CLIENT_ID`
    /// when the chain reaches managed identity, as azure-identity does).
    public static func make(
        _ kind: AzureCredentialKind,
        environment: [String: String],
        context: AzureCredentialContext,
        managedIdentityClientID: String? = nil,
        cliRunner: any AzureCLIRunner = ProcessAzureCLIRunner(),
        assertionStyle: ClientAssertionStyle = .ps256,
        refreshMargin: Duration = .seconds(300)
    ) -> CachingTokenCredential {
        let base: any TokenCredential
        switch kind {
        case .default:
            base = ChainedTokenCredential([
                EnvironmentCredential(environment: environment, context: context, assertionStyle: assertionStyle),
                ManagedIdentityCredential(
                    clientID: managedIdentityClientID ?? environment["AZURE_CLIENT_ID"].nonEmpty, context: context),
                AzureCLICredential(tenantID: environment["AZURE_TENANT_ID"].nonEmpty, runner: cliRunner)
            ])
        case .environment:
            base = EnvironmentCredential(environment: environment, context: context, assertionStyle: assertionStyle)
        case .workloadIdentity:
            base = EnvironmentCredential(
                environment: environment, context: context, assertionStyle: assertionStyle, only: .federatedToken)
        case .managedIdentity:
            base = ManagedIdentityCredential(clientID: managedIdentityClientID, context: context)
        case .azureCLI:
            base = AzureCLICredential(tenantID: environment["AZURE_TENANT_ID"].nonEmpty, runner: cliRunner)
        }
        return CachingTokenCredential(base, refreshMargin: refreshMargin, now: context.now)
    }
}

/// The service principal or workload identity described by `AZURE_*` variables: with
/// `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`, the first of `AZURE_CLIENT_SECRET`,
/// `AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_FEDERATED_TOKEN_FILE` that is set.
/// Unavailable when the variables are missing.
public struct EnvironmentCredential: TokenCredential {
    /// Which form the variables select.
    public enum Form: Sendable { case clientSecret, certificate, federatedToken }

    public var name: String {
        switch form {
        case .clientSecret: "environment (client secret)"
        case .certificate: "environment (client certificate)"
        case .federatedToken: "environment (workload identity)"
        case nil: only == .federatedToken ? "workload identity" : "environment"
        }
    }

    private let environment: [String: String]
    private let context: AzureCredentialContext
    private let assertionStyle: ClientAssertionStyle
    private let only: Form?
    /// The form the variables select, or nil when they select none.
    public let form: Form?

    public init(
        environment: [String: String], context: AzureCredentialContext, assertionStyle: ClientAssertionStyle = .ps256,
        only: Form? = nil
    ) {
        self.environment = environment
        self.context = context
        self.assertionStyle = assertionStyle
        self.only = only
        let hasIDs = environment["AZURE_TENANT_ID"].nonEmpty != nil && environment["AZURE_CLIENT_ID"].nonEmpty != nil
        var form: Form?
        if !hasIDs {
            form = nil
        } else if only == .federatedToken {
            form = Self.hasFederatedToken(environment) ? .federatedToken : nil
        } else if environment["AZURE_CLIENT_SECRET"].nonEmpty != nil {
            form = .clientSecret
        } else if environment["AZURE_CLIENT_CERTIFICATE_PATH"].nonEmpty != nil {
            form = .certificate
        } else if Self.hasFederatedToken(environment) {
            form = .federatedToken
        }
        self.form = form
    }

    /// The OIDC token endpoint Kiln asks for federated tokens (the manifest's
    /// `oidcRequestURL`), and the bearer token of that request.
    public static let oidcRequestURLVariable = "KILN_OIDC_REQUEST_URL"
    public static let oidcRequestTokenVariable = "KILN_OIDC_REQUEST_TOKEN"

    static func hasFederatedToken(_ environment: [String: String]) -> Bool {
        environment["AZURE_FEDERATED_TOKEN_FILE"].nonEmpty != nil
            || (environment[oidcRequestURLVariable].nonEmpty != nil
                && environment[oidcRequestTokenVariable].nonEmpty != nil)
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        try await credential().token(for: scope)
    }

    /// The concrete credential the variables describe.
    func credential() throws -> any TokenCredential {
        let authority = environment["AZURE_AUTHORITY_HOST"].nonEmpty.flatMap(URL.init(string:))
        guard let form, let tenant = environment["AZURE_TENANT_ID"].nonEmpty,
            let client = environment["AZURE_CLIENT_ID"].nonEmpty
        else {
            let needs =
                only == .federatedToken
                ? "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE"
                : "AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE"
            throw AzureCredentialError(kind: .unavailable, credential: name, reason: "not configured (needs \(needs))")
        }
        switch form {
        case .clientSecret:
            return ClientSecretCredential(
                tenantID: tenant, clientID: client, secret: AzureSecret(environment["AZURE_CLIENT_SECRET"]!),
                context: context, authorityHost: authority)
        case .certificate:
            do {
                return try ClientCertificateCredential(
                    tenantID: tenant, clientID: client, certificatePath: environment["AZURE_CLIENT_CERTIFICATE_PATH"]!,
                    context: context, style: assertionStyle, authorityHost: authority)
            } catch var error as AzureCredentialError {
                // The variables chose this credential, so a bad file is a failure to report,
                // not a reason to fall through to managed identity or the CLI.
                error.kind = .failed
                throw error
            }
        case .federatedToken:
            if let file = environment["AZURE_FEDERATED_TOKEN_FILE"].nonEmpty {
                return WorkloadIdentityCredential(
                    tenantID: tenant, clientID: client, tokenFile: file, context: context, authorityHost: authority)
            }
            guard let url = environment[Self.oidcRequestURLVariable].nonEmpty.flatMap(URL.init(string:)),
                let token = environment[Self.oidcRequestTokenVariable].nonEmpty
            else {
                throw AzureCredentialError(
                    kind: .failed, credential: name, reason: "\(Self.oidcRequestURLVariable) is not a URL")
            }
            return WorkloadIdentityCredential(
                tenantID: tenant, clientID: client, source: .oidcRequest(url: url, token: AzureSecret(token)),
                context: context, authorityHost: authority)
        }
    }
}

extension Optional where Wrapped == String {
    /// The string, or nil when absent or empty (an exported-but-empty variable counts as unset).
    var nonEmpty: String? {
        guard let s = self, !s.isEmpty else { return nil }
        return s
    }
}
