import Foundation
import Testing

@testable import Providers

/// Formats every error (and value) the Azure providers produce while a secret is configured,
/// and checks the secret appears in none of the texts a user or a log could see.
@Suite struct SecretRedactionTests {
    static let secret = "KilnSecret-9f1c2e7d-DO-NOT-PRINT"
    static let token = "eyJKilnAccessToken.DO-NOT-PRINT.sig"

    func texts(_ value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return ["\(value)", String(describing: value), String(reflecting: value), dumped]
    }

    func expectClean(_ value: Any, sourceLocation: SourceLocation = #_sourceLocation) {
        for text in texts(value) {
            #expect(!text.contains(Self.secret), "secret leaked: \(text)", sourceLocation: sourceLocation)
            #expect(!text.contains(Self.token), "token leaked: \(text)", sourceLocation: sourceLocation)
            #expect(!text.contains("DO-NOT-PRINT"), "secret fragment leaked: \(text)", sourceLocation: sourceLocation)
        }
    }

    func context(_ t: ScriptedHTTPTransport) -> AzureCredentialContext {
        AzureCredentialContext(
            cloud: .emulator(arm: URL(string: "https://arm.test")!), transport: t, clock: RecordingTestClock(),
            retry: AzureFixtures.retry)
    }

    @Test func secretsAndTokensDoNotPrintThemselves() {
        expectClean(AzureSecret(Self.secret))
        expectClean(AzureAccessToken(token: AzureSecret(Self.token), expiresOn: Date()))
        expectClean(
            ClientSecretCredential(
                tenantID: "t", clientID: "c", secret: AzureSecret(Self.secret),
                context: context(ScriptedHTTPTransport())))
        let request = AzureHTTPRequest(
            method: .post, url: URL(string: "https://login.test/t/oauth2/v2.0/token?x=\(Self.secret)")!,
            headers: ["Authorization": "Bearer \(Self.token)"], body: Data("client_secret=\(Self.secret)".utf8))
        #expect(!request.description.contains("DO-NOT-PRINT"))
    }

    @Test func credentialErrorsNeverContainTheSecret() async throws {
        var errors: [any Error] = []
        let env = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": Self.secret]
        for (status, body) in [
            (400, #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#),
            (500, "oops"), (200, #"{"no_token":true}"#)
        ] {
            let t = ScriptedHTTPTransport()
            await t.on(.post, "/token", json: (status, body, [:]))
            do {
                _ = try await AzureCredentialFactory.make(.environment, environment: env, context: context(t)).token(
                    for: "s/.default")
            } catch { errors.append(error) }
        }
        let down = ScriptedHTTPTransport()
        await down.on(nil, "", [.fail(.connectFailed)])
        do {
            _ = try await AzureCredentialFactory.make(.environment, environment: env, context: context(down)).token(
                for: "s/.default")
        } catch { errors.append(error) }
        do {
            _ = try await AzureCredentialFactory.make(
                .default, environment: env.merging(["AZURE_CLIENT_SECRET": ""]) { _, b in b }, context: context(down),
                cliRunner: ScriptedCLIRunner(.failure(.notInstalled))
            ).token(for: "s/.default")
        } catch { errors.append(error) }
        do { _ = try await ManagedIdentityCredential(context: context(down)).token(for: "s/.default") } catch {
            errors.append(error)
        }
        let cli = ScriptedCLIRunner(
            .success(AzureCLIResult(exitCode: 0, stdout: Data(#"{"accessToken":"\#(Self.token)"}"#.utf8), stderr: "")))
        do { _ = try await AzureCLICredential(runner: cli).token(for: "s/.default") } catch { errors.append(error) }
        #expect(errors.count == 7)
        for error in errors { expectClean(error) }
    }

    @Test func armErrorsNeverContainTheToken() async throws {
        var errors: [any Error] = []
        let credential = StaticTokenCredential(Self.token)
        for step in [
            ScriptedHTTPTransport.Step.respond(
                AzureHTTPResponse(
                    status: 403, body: Data(#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#.utf8))),
            .respond(AzureHTTPResponse(status: 200, body: Data("not json".utf8))),
            .fail(.connectionLost)
        ] {
            let t = ScriptedHTTPTransport()
            await t.on(nil, "", [step])
            do { _ = try await AzureFixtures.client(t, credential: credential).getDisk(AzureFixtures.disk) } catch {
                errors.append(error)
            }
        }
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "",
            json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", "https://arm.test/op?api-version=1"))))
        await t.on(.get, "/op", json: (200, #"{"status":"Failed","error":{"code":"X","message":"y"}}"#, [:]))
        do {
            let op = try await AzureFixtures.client(t, credential: credential).beginPut(
                AzureFixtures.disk, body: ["location": "w"])
            expectClean(op.handle)
            _ = try await op.wait(timeout: .seconds(60))
        } catch { errors.append(error) }
        let failing = FailingCredential()
        do { _ = try await AzureFixtures.client(t, credential: failing).getDisk(AzureFixtures.disk) } catch {
            errors.append(error)
        }
        #expect(errors.count == 5)
        for error in errors { expectClean(error) }
        expectClean(IMDSError(kind: .notOnAzure, endpoint: "http://169.254.169.254", reason: "connectFailed"))
        expectClean(AzureTransportError(kind: .connectFailed, endpoint: "https://arm.test", reason: "refused"))
    }

    /// A credential whose failure message would be the first place a careless secret lands.
    struct FailingCredential: TokenCredential {
        let name = "failing"
        let secret = AzureSecret(SecretRedactionTests.secret)
        func token(for scope: String) async throws -> AzureAccessToken {
            throw AzureCredentialError(kind: .rejected, credential: name, reason: "refused the secret \(secret)")
        }
    }
}
