import Foundation
import Logging

/// Posts client-credentials token requests to Entra ID's v2 endpoint
/// (`{authority}/{tenant}/oauth2/v2.0/token`) and reads the answer. Shared by the client
/// secret, certificate and federated-token credentials.
struct EntraTokenClient: Sendable {
    var authorityHost: URL
    var tenantID: String
    var transport: any AzureHTTPTransport
    var clock: any Clock<Duration>
    var retry: AzureRetryPolicy
    var timeout: Duration
    var now: @Sendable () -> Date
    var logger: Logger

    /// The token endpoint; also the `aud` of certificate assertions.
    var tokenURL: URL { authorityHost.appendingArmPath("/\(tenantID.armPathEncoded)/oauth2/v2.0/token") }

    /// Requests a token. `form` holds the grant fields; secret values are `AzureSecret`s so
    /// that nothing here can print them.
    func requestToken(credential: String, form: [(String, AzureSecret)]) async throws -> AzureAccessToken {
        let body = form.map { "\($0.0.formEncoded)=\($0.1.exposedValue.formEncoded)" }.joined(separator: "&")
        let request = AzureHTTPRequest(
            method: .post, url: tokenURL,
            headers: ["Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"],
            body: Data(body.utf8), timeout: timeout
        )
        let response: AzureHTTPResponse
        do {
            // A token request changes nothing on the server, so repeating it is safe.
            response = try await sendWithRetries(
                request, transport: transport, policy: retry, safety: .idempotent, clock: clock, logger: logger)
        } catch let error as AzureTransportError {
            throw AzureCredentialError(
                kind: .failed, credential: credential,
                reason: "no answer from the token endpoint \(tokenURL.redactedForDisplay): \(error)")
        }
        guard response.status == 200 else {
            struct EntraError: Decodable {
                var error: String?
                var error_description: String?
            }
            let parsed = try? JSONDecoder().decode(EntraError.self, from: response.body)
            let description = parsed?.error_description.map { Self.firstLine($0) } ?? "HTTP \(response.status)"
            let kind: AzureCredentialError.Kind = (400..<500).contains(response.status) ? .rejected : .failed
            throw AzureCredentialError(
                kind: kind, credential: credential,
                reason: "Entra ID refused the token request at \(tokenURL.redactedForDisplay): \(description)",
                code: parsed?.error ?? "HTTP \(response.status)",
                hint: kind == .rejected
                    ? "check the tenant id, client id and the secret, certificate or federated token" : nil
            )
        }
        return try Self.parseTokenResponse(response.body, credential: credential, now: now())
    }

    /// Entra's descriptions run over several lines with trace ids; the first line is the message.
    static func firstLine(_ text: String) -> String {
        String(text.split(whereSeparator: \.isNewline).first ?? Substring(text))
    }

    /// Reads `access_token` and `expires_on` (epoch) or `expires_in` (seconds), each a
    /// number or a numeric string (Entra sends numbers, IMDS strings).
    static func parseTokenResponse(_ body: Data, credential: String, now: Date) throws -> AzureAccessToken {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
            let token = object["access_token"] as? String, !token.isEmpty
        else {
            throw AzureCredentialError(
                kind: .failed, credential: credential, reason: "the token response has no access_token")
        }
        func number(_ key: String) -> Double? {
            if let n = object[key] as? NSNumber { return n.doubleValue }
            if let s = object[key] as? String { return Double(s) }
            return nil
        }
        let expires: Date
        if let on = number("expires_on") {
            expires = Date(timeIntervalSince1970: on)
        } else if let seconds = number("expires_in") {
            expires = now.addingTimeInterval(seconds)
        } else {
            throw AzureCredentialError(
                kind: .failed, credential: credential,
                reason: "the token response has neither expires_on nor expires_in")
        }
        return AzureAccessToken(token: AzureSecret(token), expiresOn: expires)
    }
}

extension String {
    /// `application/x-www-form-urlencoded` encoding of a name or value.
    var formEncoded: String {
        var allowed = CharacterSet.asciiAlphanumerics
        allowed.insert(charactersIn: "-._*")
        return (addingPercentEncoding(withAllowedCharacters: allowed) ?? self).replacingOccurrences(
            of: "%20", with: "+")
    }
}
