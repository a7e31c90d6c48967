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
