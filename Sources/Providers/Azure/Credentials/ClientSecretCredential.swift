import Foundation

/// A service principal with a client secret (`AZURE_CLIENT_SECRET`): the client-credentials
/// grant with `client_secret`.
public struct ClientSecretCredential: TokenCredential {
    public let name = "client secret"
    public var tenantID: String
    public var clientID: String
    private let secret: AzureSecret
    private let entra: EntraTokenClient

    public init(
        tenantID: String, clientID: String, secret: AzureSecret, context: AzureCredentialContext,
        authorityHost: URL? = nil
    ) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.secret = secret
        self.entra = context.entra(tenantID: tenantID, authorityHost: authorityHost)
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        try await entra.requestToken(
            credential: name,
            form: [
                ("grant_type", AzureSecret("client_credentials")),
                ("client_id", AzureSecret(clientID)),
                ("client_secret", secret),
                ("scope", AzureSecret(scope))
            ])
    }
}

/// Workload identity (`AZURE_FEDERATED_TOKEN_FILE`): the client-credentials grant with the
/// file's contents as the client assertion. The file is re-read for every token because the
/// kubelet rotates it.
public struct WorkloadIdentityCredential: TokenCredential {
    public let name = "workload identity"
    public var tenantID: String
    public var clientID: String
    public var tokenFile: String
    private let entra: EntraTokenClient

    public init(
        tenantID: String, clientID: String, tokenFile: String, context: AzureCredentialContext,
        authorityHost: URL? = nil
    ) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.tokenFile = tokenFile
        self.entra = context.entra(tenantID: tenantID, authorityHost: authorityHost)
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        let assertion: String
        do {
            assertion = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
        } catch {
            throw AzureCredentialError(
                kind: .unavailable, credential: name, reason: "cannot read the federated token file \(tokenFile)",
                hint: "check AZURE_FEDERATED_TOKEN_FILE and that the token volume is mounted")
        }
        guard !assertion.isEmpty else {
            throw AzureCredentialError(
                kind: .unavailable, credential: name, reason: "the federated token file \(tokenFile) is empty")
        }
        return try await entra.requestToken(
            credential: name,
            form: [
                ("grant_type", AzureSecret("client_credentials")),
                ("client_id", AzureSecret(clientID)),
                ("client_assertion_type", AzureSecret("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")),
                ("client_assertion", AzureSecret(assertion)),
                ("scope", AzureSecret(scope))
            ])
    }
}
