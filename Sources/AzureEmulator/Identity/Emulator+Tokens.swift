import Foundation

/// Entra ID: the v1 and v2 token endpoints, OpenID discovery, and the bearer check ARM does.
extension Emulator {
    static let armAudienceHosts: Set<String> = [
        "management.azure.com", "management.core.windows.net", "management.chinacloudapi.cn",
        "management.core.chinacloudapi.cn", "management.usgovcloudapi.net", "management.core.usgovcloudapi.net"
    ]

    static let standardARMAudiences: Set<String> = [
        "https://management.azure.com/", "https://management.azure.com", "https://management.core.windows.net/",
        "https://management.core.windows.net"
    ]

    /// The authority host a client reaching us as `host` believes in.
    func loginBase(for request: EmulatorRequest) -> String {
        let h = request.host.split(separator: ":").first.map { String($0).lowercased() } ?? ""
        switch h {
        case "management.azure.com", "login.microsoftonline.com": return "https://login.microsoftonline.com"
        case "management.chinacloudapi.cn", "login.chinacloudapi.cn": return "https://login.chinacloudapi.cn"
        case "management.usgovcloudapi.net", "login.microsoftonline.us": return "https://login.microsoftonline.us"
        case _ where h.hasSuffix(BlobAddress.hostSuffix): return "https://login.microsoftonline.com"
        default: return request.baseURL
        }
    }

    /// Whether `resource` names ARM (any cloud's audience, or this emulator's own URL).
    func isARMAudience(_ resource: String, request: EmulatorRequest) -> Bool {
        if Self.standardARMAudiences.contains(resource) { return true }
        guard let url = URL(string: resource.trimmingCharacters(in: .whitespaces)), let host = url.host?.lowercased()
        else { return false }
        if Self.armAudienceHosts.contains(host) { return true }
        if ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) { return true }
        let reqHost = request.host.split(separator: ":").first.map { String($0).lowercased() }
        return host == reqHost
    }

    func isKnownTenant(_ t: String) -> Bool {
        let l = t.lowercased()
        return l == config.tenant.lowercased() || l == config.tenantDomain.lowercased()
    }

    // MARK: ARM bearer check

    func authenticate(_ request: EmulatorRequest) throws(ARMError) {
        func fail(_ code: String, _ message: String, _ description: String) -> ARMError {
            let www =
                "Bearer authorization_uri=\"\(loginBase(for: request))/\(config.tenant)\", error=\"invalid_token\", error_description=\"\(description)\""
            return ARMError(401, code, message, headers: [("WWW-Authenticate", www)])
        }
        guard let auth = request.header("authorization"), !auth.isEmpty else {
            throw fail(
                "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.")
        }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw fail(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                "The authentication failed because of an invalid 'Authorization' header format.")
        }
        let token = String(parts[1])
        let claims: JSON
        if let cached = verifiedTokens[token] {
            claims = cached
        } else {
            guard let jwt = signer.verify(token) else {
                throw fail("InvalidAuthenticationToken", "The access token is invalid.", "The access token is invalid.")
            }
            if verifiedTokens.count > 1000 { verifiedTokens.removeAll() }
            verifiedTokens[token] = jwt.claims
            claims = jwt.claims
        }
        let now = Date().timeIntervalSince1970
        if let exp = claims["exp"]?.doubleValue, exp <= now {
            let f = ISO8601DateFormatter()
            throw fail(
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time '\(f.string(from: Date(timeIntervalSince1970: exp)))' is earlier than current UTC time '\(f.string(from: Date()))'.",
                "The access token has expired.")
        }
        let aud = claims["aud"]?.stringValue ?? ""
        let audKey = aud + " " + request.host
        let audOK: Bool
        if let known = audienceDecisions[audKey] {
            audOK = known
        } else {
            audOK = isARMAudience(aud, request: request)
            if audienceDecisions.count > 1000 { audienceDecisions.removeAll() }
            audienceDecisions[audKey] = audOK
        }
        guard audOK else {
            throw fail(
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource '\(aud)'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
                "The access token has been obtained for wrong audience or resource.")
        }
        if let tid = claims["tid"]?.stringValue, tid.lowercased() != config.tenant.lowercased() {
            throw fail(
                "InvalidAuthenticationTokenTenant",
                "The access token is from the wrong issuer 'https://sts.windows.net/\(tid)/'. It must match the tenant 'https://sts.windows.net/\(config.tenant)/' associated with this subscription.",
                "The access token is from the wrong issuer.")
        }
    }

    // MARK: Token issue

    func issueToken(appID: String, objectID: String, resource: String, version: String) -> (
        token: String, expiresOn: Int, notBefore: Int
    ) {
        let now = Int(Date().timeIntervalSince1970)
        let exp = now + config.tokenLifetimeSeconds
        let claims: JSON = [
            "aud": .string(resource), "iss": .string("https://sts.windows.net/\(config.tenant)/"),
            "iat": JSON(now), "nbf": JSON(now), "exp": JSON(exp),
            "appid": .string(appID), "azp": .string(appID), "oid": .string(objectID), "sub": .string(objectID),
            "tid": .string(config.tenant), "ver": .string(version), "idtyp": "app",
            "uti": .string(UUID().uuidString.lowercased()), "xms_emulator": "kiln"
        ]
        return (signer.issue(claims: claims), exp, now)
    }

    // MARK: Routes

    /// Token endpoints and OpenID discovery; nil when the path is none of them.
    func identity(_ request: EmulatorRequest, _ lower: [String]) async -> EmulatorResponse? {
        if lower == ["common", "discovery", "instance"] { return instanceDiscovery(request) }
        guard lower.count >= 2 else { return nil }
        let tenant = request.segments[0]
        let rest = Array(lower.dropFirst())
        switch rest {
        case ["oauth2", "token"] where request.method == "POST":
            return tokenEndpoint(request, tenant: tenant, v2: false)
        case ["oauth2", "v2.0", "token"] where request.method == "POST":
            return tokenEndpoint(request, tenant: tenant, v2: true)
        case ["v2.0", ".well-known", "openid-configuration"]:
            return openIDConfiguration(request, tenant: tenant, v2: true)
        case [".well-known", "openid-configuration"]:
            return openIDConfiguration(request, tenant: tenant, v2: false)
        case ["discovery", "v2.0", "keys"], ["discovery", "keys"]:
            return .json(200, ["keys": []])
        default:
            return nil
        }
    }

    func openIDConfiguration(_ request: EmulatorRequest, tenant: String, v2: Bool) -> EmulatorResponse {
        let base = request.baseURL
        let t = tenant.lowercased() == "adfs" ? "adfs" : config.tenant
        let tokenPath =
            tenant.lowercased() == "adfs"
            ? "/adfs/oauth2/token" : (v2 ? "/\(tenant)/oauth2/v2.0/token" : "/\(tenant)/oauth2/token")
        let authPath =
            tenant.lowercased() == "adfs"
            ? "/adfs/oauth2/authorize" : (v2 ? "/\(tenant)/oauth2/v2.0/authorize" : "/\(tenant)/oauth2/authorize")
        let body: JSON = [
            "token_endpoint": .string(base + tokenPath),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": .string("\(base)/\(tenant)/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": .string(v2 ? "\(base)/\(t)/v2.0" : "https://sts.windows.net/\(t)/"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": .string(base + authPath),
            "device_authorization_endpoint": .string("\(base)/\(tenant)/oauth2/v2.0/devicecode"),
            "http_logout_supported": true, "frontchannel_logout_supported": true,
            "end_session_endpoint": .string("\(base)/\(tenant)/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com", "rbac_url": "https://pas.windows.net"
        ]
        return .json(200, body)
    }

    func instanceDiscovery(_ request: EmulatorRequest) -> EmulatorResponse {
        let host = request.host
        let body: JSON = [
            "tenant_discovery_endpoint": .string(
                "\(request.baseURL)/\(config.tenant)/v2.0/.well-known/openid-configuration"),
            "api-version": "1.1",
            "metadata": [
                ["preferred_network": .string(host), "preferred_cache": .string(host), "aliases": [.string(host)]]
            ]
        ]
        return .json(200, body)
    }

    func entraError(_ status: Int, _ error: String, _ aadsts: Int, _ description: String) -> EmulatorResponse {
        let trace = UUID().uuidString.lowercased()
        let corr = UUID().uuidString.lowercased()
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        let body: JSON = [
            "error": .string(error),
            "error_description": .string(
                "AADSTS\(aadsts): \(description) Trace ID: \(trace) Correlation ID: \(corr) Timestamp: \(f.string(from: Date()))"
            ),
            "error_codes": [JSON(aadsts)], "timestamp": .string(f.string(from: Date())),
            "trace_id": .string(trace), "correlation_id": .string(corr),
            "error_uri": .string("https://login.microsoftonline.com/error?code=\(aadsts)")
        ]
        return .json(status, body)
    }

    func tokenEndpoint(_ request: EmulatorRequest, tenant: String, v2: Bool) -> EmulatorResponse {
        if tenant.lowercased() != "adfs" && !isKnownTenant(tenant) {
            return entraError(
                400, "invalid_request", 90002,
                "Tenant '\(tenant)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            )
        }
        var form = request.form
        // HTTP Basic client authentication is equivalent to client_id + client_secret.
        if let auth = request.header("authorization"), auth.lowercased().hasPrefix("basic "),
            let raw = Data(base64Encoded: String(auth.dropFirst(6))), let text = String(data: raw, encoding: .utf8),
            let colon = text.firstIndex(of: ":")
        {
            form["client_id"] = EmulatorRequest.decodeFormComponent(String(text[..<colon]))
            form["client_secret"] = EmulatorRequest.decodeFormComponent(String(text[text.index(after: colon)...]))
        }
        guard let grant = form["grant_type"] else {
            return entraError(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
        }
        guard grant == "client_credentials" else {
            return entraError(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '\(grant)'.")
        }
        // The resource: v1 `resource=`, v2 `scope=<resource>/.default`.
        var resource: String
        if v2 {
            guard let scope = form["scope"], !scope.isEmpty else {
                return entraError(
                    400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
            }
            let first = scope.split(separator: " ").first.map(String.init) ?? scope
            guard first.hasSuffix("/.default") else {
                return entraError(
                    400, "invalid_scope", 1_002_012,
                    "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                )
            }
            resource = String(first.dropLast("/.default".count))
            while resource.hasSuffix("//") { resource.removeLast() }
        } else {
            guard let r = form["resource"], !r.isEmpty else {
                return entraError(
                    400, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'."
                )
            }
            resource = r
        }
        guard isARMAudience(resource, request: request) || Self.isStorageAudience(resource) else {
            return entraError(
                400, "invalid_resource", 500011,
                "The resource principal named \(resource) was not found in the tenant named \(config.tenant). This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            )
        }
        guard let clientID = form["client_id"], !clientID.isEmpty else {
            return entraError(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
        }
        guard let client = config.clients.first(where: { $0.clientID.lowercased() == clientID.lowercased() }) else {
            return entraError(
                400, "unauthorized_client", 700016,
                "Application with identifier '\(clientID)' was not found in the directory '\(config.tenantDomain)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            )
        }
        if let secret = form["client_secret"] {
            guard let expected = client.secret, expected == secret else {
                return entraError(
                    401, "invalid_client", 7_000_215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(client.clientID)'."
                )
            }
        } else if let assertion = form["client_assertion"] {
            if let failure = checkAssertion(
                assertion, type: form["client_assertion_type"], client: client, tenant: tenant)
            {
                return failure
            }
        } else {
            return entraError(
                401, "invalid_client", 7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }
        let issued = issueToken(
            appID: client.clientID, objectID: client.objectID, resource: v2 ? resource : resource,
            version: v2 ? "2.0" : "1.0")
        let lifetime = config.tokenLifetimeSeconds
        if v2 {
            return .json(
                200,
                [
                    "token_type": "Bearer", "expires_in": JSON(lifetime), "ext_expires_in": JSON(lifetime),
                    "access_token": .string(issued.token)
                ])
        }
        return .json(
            200,
            [
                "token_type": "Bearer", "expires_in": .string(String(lifetime)),
                "ext_expires_in": .string(String(lifetime)),
                "expires_on": .string(String(issued.expiresOn)), "not_before": .string(String(issued.notBefore)),
                "resource": .string(resource), "access_token": .string(issued.token)
            ])
    }

    /// Checks a certificate client assertion (signed with a registered certificate) or a
    /// federated token (matched against the app's federated credentials); nil when valid.
    func checkAssertion(_ assertion: String, type: String?, client: RegisteredClient, tenant: String)
        -> EmulatorResponse?
    {
        guard type == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
            return entraError(
                400, "invalid_request", 700023,
                "Invalid client assertion type '\(type ?? "")'; expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."
            )
        }
        guard let jwt = ParsedJWT(assertion) else {
            return entraError(401, "invalid_client", 50027, "JWT token is invalid or malformed.")
        }
        let now = Date().timeIntervalSince1970
        if let exp = jwt.expiry, exp < now - 300 {
            return entraError(
                401, "invalid_client", 700024,
                "Client assertion is not within its valid time range. Current time: \(Int(now)), assertion valid to: \(Int(exp))."
            )
        }
        if let nbf = jwt.notBefore, nbf > now + 300 {
            return entraError(
                401, "invalid_client", 700024,
                "Client assertion is not within its valid time range. Current time: \(Int(now)), assertion valid from: \(Int(nbf))."
            )
        }
        let x5t = jwt.header["x5t"]?.stringValue
        let x5t256 = jwt.header["x5t#S256"]?.stringValue
        if x5t != nil || x5t256 != nil {
            let iss = jwt.claims["iss"]?.stringValue ?? ""
            let sub = jwt.claims["sub"]?.stringValue ?? ""
            guard iss.lowercased() == client.clientID.lowercased(), sub.lowercased() == client.clientID.lowercased()
            else {
                return entraError(
                    401, "invalid_client", 700021,
                    "Client assertion application identifier doesn't match 'client_id' parameter.")
            }
            let aud = jwt.claims["aud"]?.stringValue ?? jwt.claims["aud"]?.arrayValue?.first?.stringValue ?? ""
            guard aud.lowercased().contains("/oauth2/") || aud.lowercased().hasSuffix("/adfs") else {
                return entraError(
                    401, "invalid_client", 700212,
                    "The audience '\(aud)' of the client assertion is not the token endpoint.")
            }
            let certs = certificates[client.clientID.lowercased()] ?? []
            let match = certs.first { c in
                (x5t256.flatMap(Base64URL.decode) == c.sha256 && x5t256 != nil)
                    || (x5t.flatMap(Base64URL.decode) == c.sha1 && x5t != nil)
            }
            guard let cert = match else {
                let thumb = x5t256 ?? x5t ?? ""
                return entraError(
                    401, "invalid_client", 700027,
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '\(thumb)', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '\(client.clientID)'.]"
                )
            }
            let alg = jwt.header["alg"]?.stringValue ?? ""
            guard cert.verifies(jwt, alg: alg) else {
                return entraError(
                    401, "invalid_client", 700027, "Client assertion failed signature validation. (alg '\(alg)')")
            }
            return nil
        }
        // A federated token: Entra would fetch the issuer's keys; the emulator trusts the
        // issuer/subject/audience triple, which is what the app registration configures.
        let iss = jwt.claims["iss"]?.stringValue ?? ""
        let sub = jwt.claims["sub"]?.stringValue ?? ""
        let auds: [String] =
            jwt.claims["aud"]?.stringValue.map { [$0] } ?? jwt.claims["aud"]?.arrayValue?.compactMap(\.stringValue)
            ?? []
        let ok = client.federated.contains { f in f.issuer == iss && f.subject == sub && auds.contains(f.audience) }
        guard ok else {
            return entraError(
                400, "invalid_request", 70021,
                "No matching federated identity record found for presented assertion. Assertion Issuer: '\(iss)'. Assertion Subject: '\(sub)'. Assertion Audience: '\(auds.joined(separator: ","))'."
            )
        }
        return nil
    }
}
