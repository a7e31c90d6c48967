import Foundation
import Model
import Testing

@testable import Providers

@Suite struct IMDSClientTests {
    let instanceJSON = """
        { "compute": { "azEnvironment": "AZUREPUBLICCLOUD", "location": "westus", "name": "examplevmname", "osType": "linux",
            "resourceGroupName": "macikgo-test-may-23",
            "resourceId": "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/macikgo-test-may-23/providers/Microsoft.Compute/virtualMachines/examplevmname",
            "subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d", "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "vmSize": "Standard_A3", "zone": "",
            "tagsList": [ { "name": "baz", "value": "bash" } ], "platformFaultDomain": "36",
            "storageProfile": { "dataDisks": [ { "caching": "None", "createOption": "Empty", "diskSizeGB": "1024", "lun": "0",
                "managedDisk": { "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/exampledatadiskname", "storageAccountType": "Standard_LRS" },
                "name": "exampledatadiskname" } ] } },
          "network": { "interface": [] } }
        """

    @Test func readsTheInstanceWithTheMetadataHeader() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/metadata/instance?api-version=2021-02-01", json: (200, instanceJSON, [:]))
        let instance = try await IMDSClient(
            baseURL: URL(string: "http://imds.test")!, transport: t, clock: RecordingTestClock()
        ).instance()
        #expect(instance.compute.vmSize == "Standard_A3")
        #expect(instance.compute.storageProfile?.dataDisks?.first?.lun == "0")
        #expect(instance.virtualMachineID?.name == "examplevmname")
        #expect(await t.requests.first?.headers["Metadata"] == "true")
    }

    @Test func noIMDSSaysThisNeedsAnAzureVM() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(nil, "", [.fail(.connectFailed)])
        let clock = RecordingTestClock()
        let error = try await #require(throws: IMDSError.self) {
            try await IMDSClient(transport: t, clock: clock).instance()
        }
        #expect(error.kind == .notOnAzure)
        #expect(error.description.contains("this needs an Azure VM, or --emulator"))
        #expect(error.description.contains("169.254.169.254"))
        #expect(await t.requests.count == AzureRetryPolicy.imds.maxAttempts)
    }

    @Test func an410IsRetriedAndA400Reported() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/metadata/instance", json: (410, "", [:]),
            (400, #"{"error":"Bad request. Required metadata header not specified"}"#, [:]))
        let error = try await #require(throws: IMDSError.self) {
            try await IMDSClient(transport: t, clock: RecordingTestClock()).instance()
        }
        #expect(error.kind == .http)
        #expect(error.status == 400)
        #expect(error.description.contains("Required metadata header not specified"))
    }
}

@Suite struct AzureCloudTests {
    @Test func wellKnownCloudsHaveTheirEndpoints() {
        #expect(AzureCloud.named("public")?.resourceManager.absoluteString == "https://management.azure.com")
        #expect(AzureCloud.named("AzureChinaCloud")?.authorityHost.absoluteString == "https://login.chinacloudapi.cn")
        #expect(AzureCloud.named("usgovernment")?.armScope == "https://management.usgovcloudapi.net/.default")
        #expect(AzureCloud.public.armScope == "https://management.azure.com/.default")
        #expect(AzureCloud.named("mars") == nil)
        #expect(
            AzureCloud.resource(forScope: "https://management.azure.com/.default") == "https://management.azure.com/")
    }

    @Test func theEmulatorOverridePointsEveryEndpointAtOnePlace() {
        let cloud = AzureCloud.emulator(arm: URL(string: "https://127.0.0.1:8443")!)
        #expect(cloud.resourceManager.absoluteString == "https://127.0.0.1:8443")
        #expect(cloud.authorityHost.absoluteString == "https://127.0.0.1:8443")
        #expect(cloud.imds.absoluteString == "https://127.0.0.1:8443")
        #expect(cloud.armScope == "https://127.0.0.1:8443/.default")
    }

    @Test func aCustomCloudIsReadFromTheMetadataEndpoint() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/metadata/endpoints?api-version=2022-09-01",
            json: (
                200,
                """
                { "name": "AzureStackHub", "portal": "https://portal.local",
                  "authentication": { "loginEndpoint": "https://login.local/adfs", "audiences": ["https://management.adfs.local/abc", "x"], "tenant": "adfs", "identityProvider": "ADFS" },
                  "resourceManager": "https://management.local/", "suffixes": { "storage": "local" } }
                """, [:]
            ))
        let cloud = try await AzureCloud.discover(armEndpoint: URL(string: "https://management.local")!, transport: t)
        #expect(cloud.name == "AzureStackHub")
        #expect(cloud.authorityHost.absoluteString == "https://login.local/adfs")
        #expect(cloud.armScope == "https://management.adfs.local/abc/.default")
        #expect(cloud.imds == AzureCloud.defaultIMDS)
    }

    @Test func aMetadataEndpointThatIsNotOneIsAClearError() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/metadata/endpoints", json: (200, #"[{"name":"AzureCloud"}]"#, [:]))
        let error = try await #require(throws: AzureCloudDiscoveryError.self) {
            try await AzureCloud.discover(armEndpoint: URL(string: "https://management.local")!, transport: t)
        }
        #expect(error.description.contains("2022-09-01"))
    }
}

@Suite struct AsyncHTTPClientTransportTests {
    @Test func aRefusedConnectionIsAConnectFailure() async throws {
        let transport = try AsyncHTTPClientTransport(configuration: .init(connectTimeout: .seconds(5)))
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let result: Result<AzureHTTPResponse, any Error>
        do {
            result = .success(
                try await transport.send(
                    AzureHTTPRequest(
                        method: .get, url: URL(string: "http://127.0.0.1:1/metadata/instance")!, timeout: .seconds(5))))
        } catch {
            result = .failure(error)
        }
        try await transport.shutdown()
        let error = try #require(throws: AzureTransportError.self) { try result.get() }
        #expect(error.kind == .connectFailed)
        #expect(error.endpoint == "http://127.0.0.1:1")
    }

    @Test func aMissingCAFileFailsAtConstructionNamingThePath() {
        let error = #expect(throws: AzureTransportError.self) {
            _ = try AsyncHTTPClientTransport(configuration: .init(extraCAFile: "/nonexistent/kiln-ca.pem"))
        }
        #expect(error?.description.contains("/nonexistent/kiln-ca.pem") == true)
    }

    @Test func anExtraCAFileIsLoaded() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-ca-\(UUID().uuidString).pem")
            .path
        try TestCertificate.shared.certificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let transport = try AsyncHTTPClientTransport(configuration: .init(extraCAFile: path))
        try await transport.shutdown()
    }
}
