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

/// Workload identity: the client-credentials grant with a federated token as the client
/// assertion, read afresh for every token (`AssertionSource`): from a file
/// (`AZURE_FEDERATED_TOKEN_FILE`, which the kubelet rotates), or asked of an OIDC token
/// endpoint like GitHub Actions' (`ACTIONS_ID_TOKEN_REQUEST_URL` with its bearer token, for
/// the audience `api://AzureADTokenExchange`), whose tokens live minutes while a build lasts
/// longer.
public struct WorkloadIdentityCredential: TokenCredential {
    /// Where the client assertion comes from.
    public enum AssertionSource: Sendable {
        case file(String)
        case oidcRequest(url: URL, token: AzureSecret)
    }

    public let name = "workload identity"
    public var tenantID: String
    public var clientID: String
    public var source: AssertionSource
    private let entra: EntraTokenClient
    private let context: AzureCredentialContext

    /// The audience Entra ID expects of federated tokens.
    public static let exchangeAudience = "api://AzureADTokenExchange"

    public init(
        tenantID: String, clientID: String, tokenFile: String, context: AzureCredentialContext,
        authorityHost: URL? = nil
    ) {
        self.init(
            tenantID: tenantID, clientID: clientID, source: .file(tokenFile), context: context,
            authorityHost: authorityHost)
    }

    public init(
        tenantID: String, clientID: String, source: AssertionSource, context: AzureCredentialContext,
        authorityHost: URL? = nil
    ) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.source = source
        self.context = context
        self.entra = context.entra(tenantID: tenantID, authorityHost: authorityHost)
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        let assertion = try await self.assertion()
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

    private func assertion() async throws -> String {
        switch source {
        case .file(let tokenFile):
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
            return assertion
        case .oidcRequest(let url, let token):
            return try await requestAssertion(url, token: token)
        }
    }

    /// `GET <url>&audience=api://AzureADTokenExchange` with the request token as bearer;
    /// the answer is `{"value": "<JWT>"}`.
    private func requestAssertion(_ url: URL, token: AzureSecret) async throws -> String {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else {
            throw AzureCredentialError(kind: .failed, credential: name, reason: "the OIDC request URL is malformed")
        }
        components.queryItems =
            (components.queryItems ?? []) + [URLQueryItem(name: "audience", value: Self.exchangeAudience)]
        let request = AzureHTTPRequest(
            method: .get, url: components.url ?? url,
            headers: ["Authorization": "Bearer \(token.exposedValue)", "Accept": "application/json"], body: nil,
            timeout: context.timeout)
        let response: AzureHTTPResponse
        do {
            response = try await sendWithRetries(
                request, transport: context.transport, policy: context.retry, safety: .idempotent,
                clock: context.clock, logger: context.logger)
        } catch {
            throw AzureCredentialError(
                kind: .failed, credential: name,
                reason: "the OIDC token request to \(url.endpointForDisplay) failed: \(error)")
        }
        struct Answer: Decodable { var value: String }
        guard response.isSuccess, let answer = try? JSONDecoder().decode(Answer.self, from: response.body),
            !answer.value.isEmpty
        else {
            throw AzureCredentialError(
                kind: .failed, credential: name,
                reason: "the OIDC token endpoint \(url.endpointForDisplay) answered \(response.status) without a token",
                hint: "in GitHub Actions, give the job `permissions: id-token: write`")
        }
        return answer.value
    }
}
