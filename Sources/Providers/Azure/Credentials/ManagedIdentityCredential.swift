import Foundation

/// The VM's managed identity, through IMDS (`/metadata/identity/oauth2/token`): the
/// system-assigned identity, or a user-assigned one chosen by its client id.
public struct ManagedIdentityCredential: TokenCredential {
    public var name: String { clientID == nil ? "managed identity" : "managed identity (client id \(clientID!))" }
    /// A user-assigned identity's client id; nil for the system-assigned identity.
    public var clientID: String?
    private let context: AzureCredentialContext
    private let requestTimeout: Duration

    public init(clientID: String? = nil, context: AzureCredentialContext, requestTimeout: Duration = .seconds(5)) {
        self.clientID = clientID
        self.context = context
        self.requestTimeout = requestTimeout
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        var query = [("api-version", "2018-02-01"), ("resource", AzureCloud.resource(forScope: scope))]
        if let clientID { query.append(("client_id", clientID)) }
        let url = context.cloud.imds.appendingArmPath("/metadata/identity/oauth2/token", query: query)
        let request = AzureHTTPRequest(method: .get, url: url, headers: ["Metadata": "true"], timeout: requestTimeout)
        var policy = AzureRetryPolicy.imds
        policy.random = context.retry.random
        // IMDS answers 404 and 410 while it is (re)starting; both pass.
        policy.retryableStatuses.formUnion([404, 410])
        let response: AzureHTTPResponse
        do {
            response = try await sendWithRetries(
                request, transport: context.transport, policy: policy, safety: .idempotent, clock: context.clock,
                logger: context.logger)
        } catch let error as AzureTransportError {
            throw AzureCredentialError(
                kind: .unavailable, credential: name,
                reason: "no instance metadata service at \(context.cloud.imds.endpointForDisplay) (\(error.kind))",
                hint: "this needs an Azure VM, or --emulator")
        }
        guard response.status == 200 else {
            struct IMDSError: Decodable {
                var error: String?
                var error_description: String?
            }
            let parsed = try? JSONDecoder().decode(IMDSError.self, from: response.body)
            let detail = parsed?.error_description ?? "HTTP \(response.status)"
            // 400 is IMDS saying "no such identity on this VM": not configured, not broken.
            let kind: AzureCredentialError.Kind = response.status == 400 ? .unavailable : .failed
            throw AzureCredentialError(
                kind: kind, credential: name, reason: "IMDS gave no token: \(detail)",
                code: parsed?.error ?? "HTTP \(response.status)",
                hint: response.status == 400
                    ? "assign a managed identity to the VM (or name the user-assigned one's client id)" : nil
            )
        }
        return try EntraTokenClient.parseTokenResponse(response.body, credential: name, now: context.now())
    }
}
