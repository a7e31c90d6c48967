import Foundation
import Model
import Providers
import Reconciler
import TestSupport
import Testing

/// Which app Kiln authenticates as against a running emulator.
@Suite struct AzureTargetCredential {
    func endpoints() throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory("kiln-target")
        let file = try dir.write(
            "endpoints.json",
            """
            {"arm": "http://127.0.0.1:1", "login": "http://127.0.0.1:1", "imds": "http://127.0.0.1:1", "deviceRoot": "/tmp/x",
             "credential": {"tenantId": "tenant-1", "clientId": "app-from-endpoints", "clientSecret": "endpoints-secret"}}
            """)
        return (dir, file.path)
    }

    @Test func aDefaultCredentialKeepsTheEndpointsFilesApp() throws {
        let (dir, file) = try endpoints()
        defer { dir.remove() }
        var target = try AzureTarget.emulator(endpointsFile: file)
        target.useManifestCredential(AzureSettings(), environment: ["AZURE_CLIENT_ID": "ignored"])
        #expect(target.environment["AZURE_CLIENT_ID"] == "app-from-endpoints")
        #expect(target.environment["AZURE_CLIENT_SECRET"] == "endpoints-secret")
    }

    /// In a GitHub Actions job with `id-token: write`: Kiln asks the job's OIDC endpoint for
    /// federated tokens itself, with `federatedToken` and with the default chain; a token file
    /// named in the manifest wins.
    @Test func githubActionsOIDCVariablesReachTheCredential() {
        let github = [
            "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.test/oidc?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "job-bearer", "AZURE_CLIENT_ID": "app", "AZURE_TENANT_ID": "t"
        ]
        for kind in [CredentialSettings.Kind.federatedToken, .default] {
            var credential = CredentialSettings()
            credential.kind = kind
            credential.clientId = kind == .federatedToken ? "app" : nil
            let target = AzureTarget.azure(AzureSettings(credential: credential), environment: github)
            #expect(
                target.environment[EnvironmentCredential.oidcRequestURLVariable]
                    == github["ACTIONS_ID_TOKEN_REQUEST_URL"])
            #expect(target.environment[EnvironmentCredential.oidcRequestTokenVariable] == "job-bearer")
        }
        var own = CredentialSettings()
        own.kind = .federatedToken
        own.clientId = "app"
        own.oidcRequestURL = "https://oidc.example.test/token"
        own.oidcRequestTokenEnv = "MY_OIDC_BEARER"
        let custom = AzureTarget.azure(
            AzureSettings(credential: own), environment: github.merging(["MY_OIDC_BEARER": "mine"]) { a, _ in a })
        #expect(custom.environment[EnvironmentCredential.oidcRequestURLVariable] == "https://oidc.example.test/token")
        #expect(custom.environment[EnvironmentCredential.oidcRequestTokenVariable] == "mine")
        own.federatedTokenFile = "/var/run/token"
        let file = AzureTarget.azure(AzureSettings(credential: own), environment: github)
        #expect(file.environment[EnvironmentCredential.oidcRequestURLVariable] == nil)
        #expect(file.environment["AZURE_FEDERATED_TOKEN_FILE"] == "/var/run/token")
        // Managed identity never looks at GitHub's variables.
        var managed = CredentialSettings()
        managed.kind = .managedIdentity
        #expect(
            AzureTarget.azure(AzureSettings(credential: managed), environment: github)
                .environment[EnvironmentCredential.oidcRequestURLVariable] == nil)
    }

    @Test func theManifestsCertificateCredentialReplacesTheEndpointsFilesApp() throws {
        let (dir, file) = try endpoints()
        defer { dir.remove() }
        var target = try AzureTarget.emulator(endpointsFile: file)
        var credential = CredentialSettings()
        credential.kind = .clientCertificate
        credential.clientId = "cert-app"
        credential.clientCertificatePath = "/keys/app.pem"
        target.useManifestCredential(AzureSettings(credential: credential), environment: [:])
        #expect(target.credential == .environment)
        #expect(target.environment["AZURE_CLIENT_ID"] == "cert-app")
        #expect(target.environment["AZURE_CLIENT_CERTIFICATE_PATH"] == "/keys/app.pem")
        #expect(target.environment["AZURE_CLIENT_SECRET"] == nil)
        #expect(target.environment["AZURE_TENANT_ID"] == "tenant-1")
        #expect(target.isEmulator)
    }

    @Test func theManifestsSecretComesFromTheVariableItNames() throws {
        let (dir, file) = try endpoints()
        defer { dir.remove() }
        var target = try AzureTarget.emulator(endpointsFile: file)
        var credential = CredentialSettings()
        credential.kind = .clientSecret
        credential.clientId = "secret-app"
        credential.clientSecretEnv = "MY_SECRET"
        target.useManifestCredential(
            AzureSettings(tenant: "tenant-2", credential: credential), environment: ["MY_SECRET": "s3"])
        #expect(target.environment["AZURE_CLIENT_ID"] == "secret-app")
        #expect(target.environment["AZURE_CLIENT_SECRET"] == "s3")
        #expect(target.environment["AZURE_TENANT_ID"] == "tenant-2")
    }
}
