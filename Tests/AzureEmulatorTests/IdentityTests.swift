import Foundation
import Testing

@testable import AzureEmulator

@Suite("Entra ID token endpoints, OpenID discovery and IMDS")
struct IdentityTests {
    func form(_ h: Harness, _ fields: [String: String]) -> Data {
        Data(fields.map { "\($0.key)=\(h.pct($0.value))" }.joined(separator: "&").utf8)
    }

    func post(_ h: Harness, _ path: String, _ fields: [String: String]) async throws -> HTTPResult {
        try await h.send(
            "POST", path, raw: form(h, fields), headers: ["Content-Type": "application/x-www-form-urlencoded"],
            auth: false)
    }

    @Test func v1ClientSecretTokenHasADALShapeAndWorksOnARM() async throws {
        try await withEmulator(getToken: false) { h in
            let c = h.configuration.clients[0]
            let r = try await post(
                h, "/\(h.configuration.tenant)/oauth2/token?api-version=1.0",
                [
                    "grant_type": "client_credentials", "client_id": c.clientID, "client_secret": c.secret!,
                    "resource": "https://management.azure.com/"
                ])
            #expect(r.status == 200)
            let j = try #require(r.json)
            #expect(j["token_type"]?.stringValue == "Bearer")
            #expect(j["expires_in"]?.stringValue == "3599")
            #expect(j["expires_on"]?.stringValue != nil)
            #expect(j["resource"]?.stringValue == "https://management.azure.com/")
            var authed = h
            authed.token = try #require(j["access_token"]?.stringValue)
            #expect(try await authed.vm().status == 200)
        }
    }

    @Test func v2AcceptsBothARMAudiencesAndBasicAuth() async throws {
        try await withEmulator(getToken: false) { h in
            let c = h.configuration.clients[0]
            for scope in ["https://management.azure.com/.default", "https://management.core.windows.net//.default"] {
                let r = try await post(
                    h, "/\(h.configuration.tenantDomain)/oauth2/v2.0/token",
                    [
                        "grant_type": "client_credentials", "client_id": c.clientID, "client_secret": c.secret!,
                        "scope": scope
                    ])
                #expect(r.status == 200)
                #expect(r.json?["expires_in"]?.intValue == 3599)
                var authed = h
                authed.token = r.json?["access_token"]?.stringValue ?? ""
                #expect(try await authed.vm().status == 200)
            }
            let basic = Data("\(c.clientID):\(c.secret!)".utf8).base64EncodedString()
            let r = try await h.send(
                "POST", "/\(h.configuration.tenant)/oauth2/v2.0/token",
                raw: form(h, ["grant_type": "client_credentials", "scope": "https://management.azure.com/.default"]),
                headers: ["Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic \(basic)"],
                auth: false)
            #expect(r.status == 200)
        }
    }

    @Test func wrongCredentialsGetEntraErrorCodes() async throws {
        try await withEmulator(getToken: false) { h in
            let c = h.configuration.clients[0]
            let t = h.configuration.tenant
            let scope = "https://management.azure.com/.default"
            let badSecret = try await post(
                h, "/\(t)/oauth2/v2.0/token",
                ["grant_type": "client_credentials", "client_id": c.clientID, "client_secret": "nope", "scope": scope])
            #expect(badSecret.status == 401)
            #expect(badSecret.json?["error"]?.stringValue == "invalid_client")
            #expect(badSecret.json?["error_codes"]?.arrayValue?.first?.intValue == 7_000_215)
            let unknownApp = try await post(
                h, "/\(t)/oauth2/v2.0/token",
                [
                    "grant_type": "client_credentials", "client_id": "99999999-9999-9999-9999-999999999999",
                    "client_secret": "x", "scope": scope
                ])
            #expect(unknownApp.status == 400)
            #expect(unknownApp.json?["error_codes"]?.arrayValue?.first?.intValue == 700016)
            let unknownTenant = try await post(
                h, "/00000000-0000-0000-0000-000000000bad/oauth2/v2.0/token",
                [
                    "grant_type": "client_credentials", "client_id": c.clientID, "client_secret": c.secret!,
                    "scope": scope
                ])
            #expect(unknownTenant.json?["error_codes"]?.arrayValue?.first?.intValue == 90002)
            let noSecret = try await post(
                h, "/\(t)/oauth2/v2.0/token",
                ["grant_type": "client_credentials", "client_id": c.clientID, "scope": scope])
            #expect(noSecret.json?["error_codes"]?.arrayValue?.first?.intValue == 7_000_218)
            let badScope = try await post(
                h, "/\(t)/oauth2/v2.0/token",
                [
                    "grant_type": "client_credentials", "client_id": c.clientID, "client_secret": c.secret!,
                    "scope": "https://management.azure.com/user_impersonation"
                ])
            #expect(badScope.json?["error"]?.stringValue == "invalid_scope")
            let badResource = try await post(
                h, "/\(t)/oauth2/token",
                [
                    "grant_type": "client_credentials", "client_id": c.clientID, "client_secret": c.secret!,
                    "resource": "https://vault.azure.net"
                ])
            #expect(badResource.json?["error_codes"]?.arrayValue?.first?.intValue == 500011)
            let grant = try await post(
                h, "/\(t)/oauth2/v2.0/token", ["grant_type": "password", "client_id": c.clientID, "scope": scope])
            #expect(grant.json?["error"]?.stringValue == "unsupported_grant_type")
        }
    }

    @Test func certificateAssertionsRS256AndPS256() async throws {
        let cred = try ClientCertificateCredential.generate()
        let other = try ClientCertificateCredential.generate(commonName: "intruder")
        let clientID = "66666666-6666-6666-6666-666666666666"
        try await withEmulator(
            getToken: false,
            { c in
                c.clients.append(RegisteredClient(clientID: clientID, secret: nil, certificates: [cred.certificatePEM]))
            }
        ) { h in
            let t = h.configuration.tenant
            let aud = "\(h.endpoints.login)/\(t)/oauth2/v2.0/token"
            func ask(_ assertion: String) async throws -> HTTPResult {
                try await post(
                    h, "/\(t)/oauth2/v2.0/token",
                    [
                        "grant_type": "client_credentials", "client_id": clientID,
                        "scope": "https://management.azure.com/.default",
                        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        "client_assertion": assertion
                    ])
            }
            let ps = try await ask(try cred.assertion(clientID: clientID, audience: aud, pss: true))
            #expect(ps.status == 200)
            let rs = try await ask(try cred.assertion(clientID: clientID, audience: aud, pss: false))
            #expect(rs.status == 200)
            let wrongKey = try await ask(try other.assertion(clientID: clientID, audience: aud))
            #expect(wrongKey.status == 401)
            #expect(wrongKey.json?["error_codes"]?.arrayValue?.first?.intValue == 700027)
            let expired = try await ask(try cred.assertion(clientID: clientID, audience: aud, lifetime: -900))
            #expect(expired.json?["error_codes"]?.arrayValue?.first?.intValue == 700024)
            // a valid signature over a tampered payload
            let good = try cred.assertion(clientID: clientID, audience: aud)
            var parts = good.split(separator: ".").map(String.init)
            let forged: JSON = [
                "aud": .string(aud), "iss": .string(clientID), "sub": .string(clientID),
                "exp": JSON(Int(Date().timeIntervalSince1970) + 999_999)
            ]
            parts[1] = Base64URL.encode(forged.encoded())
            let tampered = try await ask(parts.joined(separator: "."))
            #expect(tampered.json?["error_codes"]?.arrayValue?.first?.intValue == 700027)
            let secret = try await post(
                h, "/\(t)/oauth2/v2.0/token",
                [
                    "grant_type": "client_credentials", "client_id": clientID, "client_secret": "guess",
                    "scope": "https://management.azure.com/.default"
                ])
            #expect(secret.json?["error_codes"]?.arrayValue?.first?.intValue == 7_000_215)
        }
    }

    @Test func federatedTokenMatchesTheAppsFederatedCredential() async throws {
        let clientID = "77777777-7777-7777-7777-777777777777"
        try await withEmulator(
            getToken: false,
            { c in
                c.clients.append(
                    RegisteredClient(
                        clientID: clientID, secret: nil,
                        federated: [
                            FederatedCredential(
                                issuer: "https://oidc.example/", subject: "system:serviceaccount:ci:kiln")
                        ]))
            }
        ) { h in
            func external(_ sub: String) -> String {
                let h: JSON = ["alg": "RS256", "typ": "JWT"]
                let c: JSON = [
                    "iss": "https://oidc.example/", "sub": .string(sub), "aud": ["api://AzureADTokenExchange"],
                    "exp": JSON(Int(Date().timeIntervalSince1970) + 600)
                ]
                let header = Base64URL.encode(h.encoded())
                let claims = Base64URL.encode(c.encoded())
                return "\(header).\(claims).c2lnbmF0dXJl"
            }
            func ask(_ a: String) async throws -> HTTPResult {
                try await post(
                    h, "/\(h.configuration.tenant)/oauth2/v2.0/token",
                    [
                        "grant_type": "client_credentials", "client_id": clientID,
                        "scope": "https://management.azure.com/.default",
                        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        "client_assertion": a
                    ])
            }
            #expect(try await ask(external("system:serviceaccount:ci:kiln")).status == 200)
            let wrong = try await ask(external("system:serviceaccount:ci:other"))
            #expect(wrong.status == 400)
            #expect(wrong.json?["error_codes"]?.arrayValue?.first?.intValue == 70021)
        }
    }

    @Test func openIDDiscoveryPointsAtTheEmulator() async throws {
        try await withEmulator(getToken: false) { h in
            let r = try await h.send(
                "GET", "/\(h.configuration.tenant)/v2.0/.well-known/openid-configuration", auth: false)
            #expect(
                r.json?["token_endpoint"]?.stringValue
                    == "\(h.endpoints.login)/\(h.configuration.tenant)/oauth2/v2.0/token")
            let d = try await h.send(
                "GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=x", auth: false)
            #expect(d.json?["tenant_discovery_endpoint"] != nil)
        }
    }

    @Test func imdsNeedsTheMetadataHeaderAndServesTheBuilderVM() async throws {
        try await withEmulator(getToken: false) { h in
            let no = try await h.send("GET", "/metadata/instance?api-version=2017-08-01", auth: false)
            #expect(no.status == 400)
            #expect(no.json?["error"]?.stringValue == "Bad request. Required metadata header not specified")
            let badVersion = try await h.send(
                "GET", "/metadata/instance?api-version=1999-01-01", headers: ["Metadata": "true"], auth: false)
            #expect(badVersion.json?["newest-versions"] != nil)
            let r = try await h.send(
                "GET", "/metadata/instance?api-version=2017-08-01", headers: ["metadata": "True"], auth: false)
            #expect(r.status == 200)
            let c = try #require(r.json?["compute"])
            #expect(c["name"]?.stringValue == "kiln-builder")
            #expect(c["resourceGroupName"]?.stringValue == h.rg)
            #expect(c["subscriptionId"]?.stringValue == h.sub)
            #expect(c["location"]?.stringValue == "westus")
            #expect(c["vmSize"]?.stringValue == "Standard_D2s_v3")
            let compute = try await h.send(
                "GET", "/metadata/instance/compute?api-version=2017-08-01&format=json", headers: ["Metadata": "true"],
                auth: false)
            #expect(compute.json?["name"]?.stringValue == "kiln-builder")
            let leaf = try await h.send(
                "GET", "/metadata/instance/compute/name?api-version=2021-02-01&format=text",
                headers: ["Metadata": "true"], auth: false)
            #expect(leaf.text == "kiln-builder")
        }
    }

    @Test func imdsManagedIdentityTokenWorksOnARM() async throws {
        try await withEmulator(getToken: false) { h in
            let r = try await h.send(
                "GET",
                "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F",
                headers: ["Metadata": "true"], auth: false)
            #expect(r.status == 200)
            #expect(r.json?["expires_on"]?.stringValue != nil)
            #expect(r.json?["client_id"]?.stringValue == h.configuration.builderVM.identityClientID)
            var authed = h
            authed.token = r.json?["access_token"]?.stringValue ?? ""
            #expect(try await authed.vm().status == 200)
            let byClient = try await h.send(
                "GET",
                "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/&client_id=\(h.configuration.builderVM.identityClientID)",
                headers: ["Metadata": "true"], auth: false)
            #expect(byClient.status == 200)
            let unknown = try await h.send(
                "GET",
                "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/&client_id=nope",
                headers: ["Metadata": "true"], auth: false)
            #expect(unknown.status == 400)
        }
    }
}
