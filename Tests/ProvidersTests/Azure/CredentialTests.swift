import Crypto
import Foundation
import SwiftASN1
import Synchronization
import Testing
import X509
import _CryptoExtras

@testable import Providers

/// A self-signed certificate and its key, made at test time (no private key is committed).
struct TestCertificate {
    let key: _RSA.Signing.PrivateKey
    let certificatePEM: String
    /// Certificate then key, as AZURE_CLIENT_CERTIFICATE_PATH holds them.
    var combinedPEM: String { certificatePEM + "\n" + key.pemRepresentation + "\n" }

    static let shared: TestCertificate = {
        let key = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        let name = try! DistinguishedName { CommonName("kiln-test-client") }
        let now = Date()
        let certificate = try! Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600),
            issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: Certificate.Extensions(), issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return TestCertificate(key: key, certificatePEM: try! certificate.serializeAsPEM().pemString)
    }()

    var der: Data { PEMBlock.parse(certificatePEM).first!.der }

    func writeCombined() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-cert-\(UUID().uuidString).pem")
            .path
        try combinedPEM.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// An `az` that answers from a script and records its arguments.
final class ScriptedCLIRunner: AzureCLIRunner {
    let result: Result<AzureCLIResult, AzureCLIRunnerError>
    private let calls = Mutex<[[String]]>([])
    init(_ result: Result<AzureCLIResult, AzureCLIRunnerError>) { self.result = result }
    var arguments: [[String]] { calls.withLock { $0 } }
    func run(arguments: [String], timeout: Duration) async throws -> AzureCLIResult {
        calls.withLock { $0.append(arguments) }
        return try result.get()
    }
}

@Suite struct CredentialTests {
    let login = URL(string: "https://login.test")!
    let tokenJSON = #"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.fresh.token"}"#

    func context(_ t: ScriptedHTTPTransport, now: ManualWallClock = ManualWallClock()) -> AzureCredentialContext {
        AzureCredentialContext(
            cloud: .emulator(
                arm: URL(string: "https://arm.test")!, login: login, imds: URL(string: "http://imds.test")!),
            transport: t, clock: RecordingTestClock(), retry: AzureFixtures.retry, now: now.function)
    }

    @Test func clientSecretSendsTheClientCredentialsForm() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.post, "/tenant-1/oauth2/v2.0/token", json: (200, tokenJSON, [:]))
        let wall = ManualWallClock()
        let credential = ClientSecretCredential(
            tenantID: "tenant-1", clientID: "app-1", secret: AzureSecret("s3cr3t&=+"), context: context(t, now: wall))
        let token = try await credential.token(for: "https://arm.test/.default")
        #expect(token.token.exposedValue == "eyJ.fresh.token")
        #expect(token.expiresOn == wall.now.addingTimeInterval(3599))
        let request = try #require(await t.requests.first)
        #expect(request.url.absoluteString == "https://login.test/tenant-1/oauth2/v2.0/token")
        #expect(request.headers["Content-Type"] == "application/x-www-form-urlencoded")
        #expect(
            AzureFixtures.form(request) == [
                "grant_type": "client_credentials", "client_id": "app-1", "client_secret": "s3cr3t&=+",
                "scope": "https://arm.test/.default"
            ])
    }

    @Test(arguments: ClientAssertionStyle.allCases)
    func certificateAssertionIsASignedJWTThatVerifiesWithThePublicKey(style: ClientAssertionStyle) async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.post, "/oauth2/v2.0/token", json: (200, tokenJSON, [:]))
        let cert = TestCertificate.shared
        let path = try cert.writeCombined()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let credential = try ClientCertificateCredential(
            tenantID: "tenant-1", clientID: "app-1", certificatePath: path, context: context(t), style: style)
        _ = try await credential.token(for: "https://arm.test/.default")

        let form = AzureFixtures.form(try #require(await t.requests.first))
        #expect(form["grant_type"] == "client_credentials")
        #expect(form["client_id"] == "app-1")
        #expect(form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(form["client_secret"] == nil)
        let parts = try #require(form["client_assertion"]).split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        let header = try #require(try JSONSerialization.jsonObject(with: Base64URL.decode(parts[0])!) as? [String: Any])
        let claims = try #require(try JSONSerialization.jsonObject(with: Base64URL.decode(parts[1])!) as? [String: Any])
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try #require(Base64URL.decode(parts[2])))
        let signed = Data((parts[0] + "." + parts[1]).utf8)

        switch style {
        case .ps256:
            #expect(header["alg"] as? String == "PS256")
            #expect(header["x5t#S256"] as? String == Base64URL.encode(Data(SHA256.hash(data: cert.der))))
            #expect(cert.key.publicKey.isValidSignature(signature, for: signed, padding: .PSS))
        case .rs256:
            #expect(header["alg"] as? String == "RS256")
            #expect(header["x5t#S256"] as? String == Base64URL.encode(Data(SHA256.hash(data: cert.der))))
            #expect(cert.key.publicKey.isValidSignature(signature, for: signed, padding: .insecurePKCS1v1_5))
        case .rs256SHA1Thumbprint:
            #expect(header["alg"] as? String == "RS256")
            #expect(header["x5t"] as? String == Base64URL.encode(Data(Insecure.SHA1.hash(data: cert.der))))
            #expect(cert.key.publicKey.isValidSignature(signature, for: signed, padding: .insecurePKCS1v1_5))
        }
        #expect(header["typ"] as? String == "JWT")
        #expect(claims["aud"] as? String == "https://login.test/tenant-1/oauth2/v2.0/token")
        #expect(claims["iss"] as? String == "app-1")
        #expect(claims["sub"] as? String == "app-1")
        #expect(claims["jti"] as? String != nil)
        let nbf = try #require(claims["nbf"] as? Int)
        let exp = try #require(claims["exp"] as? Int)
        #expect(exp - nbf == 600)
    }

    @Test func aCertificateFileWithoutAKeyIsRefusedByName() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-nokey-\(UUID().uuidString).pem")
            .path
        try TestCertificate.shared.certificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = try #require(throws: AzureCredentialError.self) {
            _ = try ClientCertificateCredential(
                tenantID: "t", clientID: "c", certificatePath: path, context: context(ScriptedHTTPTransport()))
        }
        #expect(error.description.contains(path))
        #expect(error.description.contains("no private key"))
    }

    @Test func federatedTokenFileIsTheAssertion() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.post, "/oauth2/v2.0/token", json: (200, tokenJSON, [:]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-fed-\(UUID().uuidString)").path
        try "k8s.projected.jwt\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let env = ["AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "app-1", "AZURE_FEDERATED_TOKEN_FILE": path]
        let credential = AzureCredentialFactory.make(.workloadIdentity, environment: env, context: context(t))
        _ = try await credential.token(for: "https://arm.test/.default")
        let form = AzureFixtures.form(try #require(await t.requests.first))
        #expect(form["client_assertion"] == "k8s.projected.jwt")
        #expect(form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(form["client_id"] == "app-1")
    }

    /// GitHub Actions: no token file; each access token is preceded by a fresh OIDC token
    /// asked of the job's endpoint for Entra's exchange audience (they live minutes).
    @Test func workloadIdentityAsksTheOIDCEndpointForEachAssertion() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/_apis/oidc", json: (200, #"{"count":1,"value":"github.oidc.jwt"}"#, [:]))
        await t.on(.post, "/oauth2/v2.0/token", json: (200, tokenJSON, [:]))
        let env = [
            "AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "app-1",
            EnvironmentCredential.oidcRequestURLVariable: "https://pipelines.actions.test/_apis/oidc?api-version=2.0",
            EnvironmentCredential.oidcRequestTokenVariable: "request-bearer"
        ]
        let credential = EnvironmentCredential(environment: env, context: context(t), only: .federatedToken)
        #expect(credential.form == .federatedToken)
        _ = try await credential.token(for: "https://arm.test/.default")
        _ = try await credential.token(for: "https://storage.azure.com/.default")
        let asks = await t.requests(.get, containing: "/_apis/oidc")
        #expect(asks.count == 2)
        let ask = try #require(asks.first)
        #expect(ask.headers["Authorization"] == "Bearer request-bearer")
        let query = URLComponents(url: ask.url, resolvingAgainstBaseURL: false)?.queryItems ?? []
        #expect(query.contains(URLQueryItem(name: "audience", value: "api://AzureADTokenExchange")))
        #expect(query.contains(URLQueryItem(name: "api-version", value: "2.0")))
        let form = AzureFixtures.form(try #require(await t.requests(.post, containing: "/token").first))
        #expect(form["client_assertion"] == "github.oidc.jwt")
        #expect(form["client_id"] == "app-1")
    }

    @Test func anOIDCEndpointWithoutATokenIsAClearFailure() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/_apis/oidc", json: (403, #"{"message":"no id-token permission"}"#, [:]))
        let env = [
            "AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "app-1",
            EnvironmentCredential.oidcRequestURLVariable: "https://pipelines.actions.test/_apis/oidc",
            EnvironmentCredential.oidcRequestTokenVariable: "request-bearer"
        ]
        await #expect {
            _ = try await EnvironmentCredential(environment: env, context: context(t)).token(for: "s/.default")
        } throws: { error in
            "\(error)".contains("answered 403 without a token") && "\(error)".contains("id-token: write")
                && !"\(error)".contains("request-bearer")
        }
    }

    @Test func managedIdentityAsksIMDSWithTheResourceAndClientID() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/metadata/identity/oauth2/token",
            json: (
                200,
                #"{"access_token":"mi.token","client_id":"c","expires_in":"3599","expires_on":"1900000000","resource":"https://arm.test/","token_type":"Bearer"}"#,
                [:]
            ))
        let credential = ManagedIdentityCredential(clientID: "user-assigned-1", context: context(t))
        let token = try await credential.token(for: "https://arm.test/.default")
        #expect(token.expiresOn == Date(timeIntervalSince1970: 1_900_000_000))
        let request = try #require(await t.requests.first)
        #expect(request.headers["Metadata"] == "true")
        let query = Dictionary(
            uniqueKeysWithValues: (URLComponents(url: request.url, resolvingAgainstBaseURL: false)?.queryItems ?? [])
                .map { ($0.name, $0.value ?? "") })
        #expect(query == ["api-version": "2018-02-01", "resource": "https://arm.test/", "client_id": "user-assigned-1"])
        #expect(request.url.host == "imds.test")
    }

    @Test func managedIdentityWithoutIMDSIsUnavailableAndSaysSo() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/metadata/", [.fail(.connectFailed)])
        let error = try await #require(throws: AzureCredentialError.self) {
            try await ManagedIdentityCredential(context: context(t)).token(for: "https://arm.test/.default")
        }
        #expect(error.kind == .unavailable)
        #expect(error.description.contains("this needs an Azure VM, or --emulator"))
    }

    @Test func azureCLIIsAskedForTheResourceAndItsExpiryIsRead() async throws {
        let out =
            #"{"accessToken":"cli.token","expiresOn":"2025-06-01 13:50:47.114324","expires_on":1748785847,"subscription":"s","tenant":"t","tokenType":"Bearer"}"#
        let runner = ScriptedCLIRunner(.success(AzureCLIResult(exitCode: 0, stdout: Data(out.utf8), stderr: "")))
        let token = try await AzureCLICredential(tenantID: "t", runner: runner).token(
            for: "https://management.azure.com/.default")
        #expect(token.token.exposedValue == "cli.token")
        #expect(token.expiresOn == Date(timeIntervalSince1970: 1_748_785_847))
        #expect(
            runner.arguments == [
                [
                    "account", "get-access-token", "--resource", "https://management.azure.com/", "-o", "json",
                    "--tenant", "t"
                ]
            ])
    }

    @Test func azureCLIWithoutLoginIsUnavailable() async throws {
        let runner = ScriptedCLIRunner(
            .success(
                AzureCLIResult(exitCode: 1, stdout: Data(), stderr: "ERROR: Please run 'az login' to setup account.\n"))
        )
        let error = try await #require(throws: AzureCredentialError.self) {
            try await AzureCLICredential(runner: runner).token(for: "https://x/.default")
        }
        #expect(error.kind == .unavailable)
        #expect(error.description.contains("run az login"))
    }

    @Test func theRealCLIRunnerReportsAMissingExecutable() async throws {
        await #expect(throws: AzureCLIRunnerError.self) {
            try await ProcessAzureCLIRunner(executable: "kiln-no-such-az-\(UUID().uuidString)").run(
                arguments: ["version"], timeout: .seconds(10))
        }
    }

    @Test func theRealCLIRunnerCapturesOutputAndExitCode() async throws {
        let result = try await ProcessAzureCLIRunner(executable: "sh").run(
            arguments: ["-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(30))
        #expect(result.exitCode == 3)
        #expect(String(decoding: result.stdout, as: UTF8.self) == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test func theRealCLIRunnerEndsAProcessThatOverrunsItsTimeout() async throws {
        await #expect(throws: AzureCLIRunnerError.self) {
            try await ProcessAzureCLIRunner(executable: "sleep").run(arguments: ["30"], timeout: .milliseconds(200))
        }
    }

    @Test func tokensAreCachedAndRefreshedFiveMinutesBeforeExpiry() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .post, "/oauth2/v2.0/token", json: (200, #"{"access_token":"one","expires_in":3600}"#, [:]),
            (200, #"{"access_token":"two","expires_in":3600}"#, [:]))
        let wall = ManualWallClock()
        let env = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "x"]
        let credential = AzureCredentialFactory.make(.environment, environment: env, context: context(t, now: wall))
        #expect(try await credential.token(for: "s/.default").token.exposedValue == "one")
        wall.advance(3600 - 301)
        #expect(try await credential.token(for: "s/.default").token.exposedValue == "one")
        #expect(await t.requests.count == 1)
        wall.advance(2)
        #expect(try await credential.token(for: "s/.default").token.exposedValue == "two")
        #expect(await t.requests.count == 2)
    }

    @Test func shortLivedTokensAreRefreshedAtHalfTheirLifetime() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .post, "/oauth2/v2.0/token", json: (200, #"{"access_token":"one","expires_in":60}"#, [:]),
            (200, #"{"access_token":"two","expires_in":60}"#, [:]))
        let wall = ManualWallClock()
        let env = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "x"]
        let credential = AzureCredentialFactory.make(.environment, environment: env, context: context(t, now: wall))
        _ = try await credential.token(for: "s/.default")
        wall.advance(29)
        #expect(try await credential.token(for: "s/.default").token.exposedValue == "one")
        wall.advance(2)
        #expect(try await credential.token(for: "s/.default").token.exposedValue == "two")
    }

    @Test func aFailedRefreshFallsBackToTheStillValidToken() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .post, "/oauth2/v2.0/token", json: (200, #"{"access_token":"one","expires_in":3600}"#, [:]),
            (400, #"{"error":"invalid_client"}"#, [:]))
        let wall = ManualWallClock()
        let env = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "x"]
        let credential = AzureCredentialFactory.make(.environment, environment: env, context: context(t, now: wall))
        _ = try await credential.token(for: "s/.default")
        wall.advance(3500)
        #expect(try await credential.token(for: "s/.default").token.exposedValue == "one")
        wall.advance(200)
        await #expect(throws: AzureCredentialError.self) { try await credential.token(for: "s/.default") }
    }

    @Test func theDefaultChainFallsThroughToTheCLI() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/metadata/", [.fail(.connectFailed)])
        let runner = ScriptedCLIRunner(
            .success(
                AzureCLIResult(
                    exitCode: 0, stdout: Data(#"{"accessToken":"cli","expires_on":1900000000}"#.utf8), stderr: "")))
        let credential = AzureCredentialFactory.make(.default, environment: [:], context: context(t), cliRunner: runner)
        #expect(try await credential.token(for: "https://arm.test/.default").token.exposedValue == "cli")
    }

    @Test func theDefaultChainPrefersTheEnvironmentAndStopsOnARejectedSecret() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .post, "/oauth2/v2.0/token",
            json: (
                401,
                #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
                [:]
            ))
        let runner = ScriptedCLIRunner(
            .success(
                AzureCLIResult(
                    exitCode: 0, stdout: Data(#"{"accessToken":"cli","expires_on":1900000000}"#.utf8), stderr: "")))
        let env = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "wrong"]
        let credential = AzureCredentialFactory.make(.default, environment: env, context: context(t), cliRunner: runner)
        let error = try await #require(throws: AzureCredentialError.self) {
            try await credential.token(for: "https://arm.test/.default")
        }
        #expect(error.kind == .rejected)
        #expect(error.code == "invalid_client")
        #expect(error.description.contains("AADSTS7000215: Invalid client secret provided."))
        #expect(!error.description.contains("Trace ID"))
        #expect(runner.arguments.isEmpty)
    }

    @Test func whenNothingIsConfiguredTheErrorListsEachCredential() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/metadata/", [.fail(.connectFailed)])
        let runner = ScriptedCLIRunner(.failure(.notInstalled))
        let credential = AzureCredentialFactory.make(.default, environment: [:], context: context(t), cliRunner: runner)
        let error = try await #require(throws: AzureCredentialError.self) {
            try await credential.token(for: "https://arm.test/.default")
        }
        #expect(error.description.contains("environment"))
        #expect(error.description.contains("managed identity"))
        #expect(error.description.contains("az is not installed"))
    }

    @Test func environmentVariablesChooseTheForm() {
        let ctx = context(ScriptedHTTPTransport())
        let ids = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"]
        #expect(
            EnvironmentCredential(
                environment: ids.merging(["AZURE_CLIENT_SECRET": "x", "AZURE_CLIENT_CERTIFICATE_PATH": "/p"]) { a, _ in
                    a
                }, context: ctx
            ).form == .clientSecret)
        #expect(
            EnvironmentCredential(
                environment: ids.merging(["AZURE_CLIENT_CERTIFICATE_PATH": "/p"]) { a, _ in a }, context: ctx
            ).form == .certificate)
        #expect(
            EnvironmentCredential(
                environment: ids.merging(["AZURE_FEDERATED_TOKEN_FILE": "/f"]) { a, _ in a }, context: ctx
            ).form == .federatedToken)
        #expect(EnvironmentCredential(environment: ["AZURE_CLIENT_SECRET": "x"], context: ctx).form == nil)
        #expect(
            EnvironmentCredential(environment: ids.merging(["AZURE_CLIENT_SECRET": ""]) { a, _ in a }, context: ctx)
                .form == nil)
    }

    @Test func authorityHostVariableOverridesTheCloudsLogin() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.post, "/oauth2/v2.0/token", json: (200, tokenJSON, [:]))
        let env = [
            "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "x",
            "AZURE_AUTHORITY_HOST": "https://login.other.test/"
        ]
        _ = try await EnvironmentCredential(environment: env, context: context(t)).token(for: "s/.default")
        #expect(await t.requests.first?.url.absoluteString == "https://login.other.test/t/oauth2/v2.0/token")
    }
}
