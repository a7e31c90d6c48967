import Foundation
import Testing

@testable import AzureEmulator

@Suite("Emulator server: auth, api-versions, robustness")
struct ServerTests {
    @Test func startWritesEndpointsFileWithACredential() async throws {
        try await withEmulator { h in
            let data = try Data(contentsOf: h.stateDirectory.appendingPathComponent("endpoints.json"))
            let ep = try JSONDecoder().decode(EmulatorEndpoints.self, from: data)
            #expect(ep == h.endpoints)
            #expect(ep.arm.hasPrefix("http://127.0.0.1:"))
            #expect(ep.credential.clientSecret == "kiln-emulator-secret")
            #expect(ep.builderVMId.hasSuffix("/virtualMachines/kiln-builder"))
            #expect(ep.deviceRoot == h.stateDirectory.appendingPathComponent("dev").path)
        }
    }

    @Test func unauthenticatedARMRequestGets401NamingTheTenant() async throws {
        try await withEmulator { h in
            let r = try await h.send("GET", "/subscriptions/\(h.sub)?api-version=2016-06-01", auth: false)
            #expect(r.status == 401)
            #expect(r.errorCode == "AuthenticationFailed")
            let www = try #require(r.header("www-authenticate"))
            #expect(www.hasPrefix("Bearer authorization_uri=\"\(h.endpoints.login)/\(h.configuration.tenant)\""))
            #expect(www.contains("error=\"invalid_token\""))
            #expect(r.header("x-ms-request-id") != nil)
        }
    }

    @Test func forgedTokenIsInvalidAuthenticationToken() async throws {
        try await withEmulator { h in
            var bad = h
            bad.token = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln"
            let r = try await bad.send("GET", h.vmPath)
            #expect(r.status == 401)
            #expect(r.errorCode == "InvalidAuthenticationToken")
        }
    }

    @Test func expiredTokenIsExpiredAuthenticationToken() async throws {
        try await withEmulator({ $0.tokenLifetimeSeconds = 0 }) { h in
            let r = try await h.send("GET", h.vmPath)
            #expect(r.status == 401)
            #expect(r.errorCode == "ExpiredAuthenticationToken")
        }
    }

    @Test func apiVersionIsRequiredAndChecked() async throws {
        try await withEmulator { h in
            let missing = try await h.send("GET", "\(h.compute)/disks/x")
            #expect(missing.status == 400)
            #expect(missing.errorCode == "MissingApiVersionParameter")
            let unknown = try await h.send("GET", h.diskPath("x", api: "2025-13-45"))
            #expect(unknown.status == 400)
            #expect(unknown.errorCode == "NoRegisteredProviderFound")
            #expect(unknown.json?.at("error", "message")?.stringValue?.contains("'disks'") == true)
            // packer's 2019 version and the newest SDK's are both accepted
            for v in ["2019-11-01", "2026-03-02"] {
                let r = try await h.send("GET", h.diskPath("x", api: v))
                #expect(r.status == 404)
                #expect(r.errorCode == "ResourceNotFound")
            }
        }
    }

    @Test func badJSONWrongTypesAndHugeBodiesGetAzureErrors() async throws {
        try await withEmulator({ $0.maxBodyBytes = 64 * 1024 }) { h in
            let bad = try await h.send(
                "PUT", h.diskPath("d1"), raw: Data("{\"location\": ".utf8),
                headers: ["Content-Type": "application/json"])
            #expect(bad.status == 400)
            #expect(bad.errorCode == "InvalidRequestContent")
            let wrong = try await h.send(
                "PUT", h.diskPath("d1"),
                json: [
                    "location": "westus",
                    "properties": ["creationData": ["createOption": "Empty"], "diskSizeGB": "lots"]
                ])
            #expect(wrong.status == 400)
            #expect(wrong.errorCode == "InvalidRequestContent")
            let notObject = try await h.send("PUT", h.diskPath("d1"), json: [1, 2])
            #expect(notObject.status == 400)
            let huge = try await h.send("PUT", h.diskPath("d1"), raw: Data(repeating: 0x20, count: 200 * 1024))
            #expect(huge.status == 413)
            #expect(huge.errorCode == "RequestEntityTooLarge")
            let log = try await h.send("GET", "/_emulator/requests", auth: false)
            #expect(log.json?.arrayValue?.contains { $0["status"]?.intValue == 413 } == true)
            // still serving afterwards
            #expect(try await h.vm().status == 200)
        }
    }

    @Test func unknownPathsAndTypesAre404() async throws {
        try await withEmulator { h in
            let a = try await h.send("GET", "/no/such/thing")
            #expect(a.status == 404)
            #expect(a.errorCode == "NotFound")
            let b = try await h.send("GET", "\(h.compute)/widgets/w?api-version=2024-07-01")
            #expect(b.status == 404)
            #expect(b.errorCode == "InvalidResourceType")
            let c = try await h.send(
                "GET", "/subscriptions/99999999-0000-0000-0000-000000000000/resourceGroups/x?api-version=2021-04-01")
            #expect(c.errorCode == "SubscriptionNotFound")
            let d = try await h.send(
                "GET",
                "/subscriptions/\(h.sub)/resourceGroups/nope/providers/Microsoft.Compute/disks/x?api-version=2024-03-02"
            )
            #expect(d.status == 404)
            #expect(d.errorCode == "ResourceGroupNotFound")
            let e = try await h.send("POST", h.diskPath("x"), json: [:])
            #expect(e.status == 404 || e.status == 405)
        }
    }

    @Test func pathsAndNamesAreCaseInsensitive() async throws {
        try await withEmulator { h in
            try await h.createDisk("MixedCase")
            let path =
                "/SUBSCRIPTIONS/\(h.sub)/RESOURCEGROUPS/\(h.rg.uppercased())/PROVIDERS/microsoft.compute/DISKS/mixedcase?api-version=2024-03-02"
            let r = try await h.send("GET", path)
            #expect(r.status == 200)
            #expect(r.json?["name"]?.stringValue == "MixedCase")
        }
    }

    @Test func subscriptionsTenantsAndCloudMetadata() async throws {
        try await withEmulator { h in
            let subs = try await h.send("GET", "/subscriptions?api-version=2019-11-01")
            #expect(subs.json?["value"]?.arrayValue?.first?["subscriptionId"]?.stringValue == h.sub)
            let sub = try await h.send("GET", "/subscriptions/\(h.sub)?api-version=2016-06-01")
            #expect(sub.json?["tenantId"]?.stringValue == h.configuration.tenant)
            #expect(sub.header("x-ms-ratelimit-remaining-subscription-reads") != nil)
            let tenants = try await h.send("GET", "/tenants?api-version=2020-01-01")
            #expect(tenants.json?["value"]?.arrayValue?.count == 1)
            let meta = try await h.send("GET", "/metadata/endpoints?api-version=2022-09-01", auth: false)
            #expect(meta.status == 200)
            #expect(meta.json?["resourceManager"]?.stringValue == h.endpoints.arm + "/")
            #expect(meta.json?.at("authentication", "loginEndpoint")?.stringValue == h.endpoints.login + "/")
            let old = try await h.send("GET", "/metadata/endpoints?api-version=2015-01-01", auth: false)
            #expect(old.json?.at("authentication", "loginEndpoint") != nil)
        }
    }

    @Test func correlationIDIsEchoed() async throws {
        try await withEmulator { h in
            let r = try await h.send("GET", h.vmPath, headers: ["x-ms-correlation-request-id": "abc-123"])
            #expect(r.header("x-ms-correlation-request-id") == "abc-123")
            #expect(r.header("x-ms-routing-request-id")?.hasPrefix("WESTUS:") == true)
        }
    }

    @Test func concurrentRequestsAreSafe() async throws {
        try await withEmulator { h in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<20 {
                    group.addTask { try await h.putDisk("c\(i)").status }
                }
                for try await status in group { #expect(status == 202) }
            }
            let list = try await h.send("GET", "\(h.compute)/disks?api-version=2024-03-02")
            #expect(list.json?["value"]?.arrayValue?.count == 20)
        }
    }

    @Test func resourceGroupsCanBeCreatedAndQueried() async throws {
        try await withEmulator { h in
            let rg = "/subscriptions/\(h.sub)/resourceGroups/images-rg?api-version=2021-04-01"
            #expect(try await h.send("HEAD", rg).status == 404)
            let put = try await h.send("PUT", rg, json: ["location": "westus", "tags": ["team": "kiln"]])
            #expect(put.status == 201)
            #expect(try await h.send("HEAD", rg).status == 204)
            #expect(try await h.send("PUT", rg, json: ["location": "westus"]).status == 200)
            let disk = try await h.send(
                "PUT",
                "/subscriptions/\(h.sub)/resourceGroups/IMAGES-RG/providers/Microsoft.Compute/disks/d?api-version=2024-03-02",
                json: ["location": "westus", "properties": ["creationData": ["createOption": "Empty"], "diskSizeGB": 1]]
            )
            #expect(disk.status == 202)
            let list = try await h.send("GET", "/subscriptions/\(h.sub)/resourcegroups?api-version=2021-04-01")
            #expect(list.json?["value"]?.arrayValue?.count == 2)
            let view = try await h.send("GET", h.vmPath + "&$expand=instanceView")
            #expect(view.json?.at("properties", "instanceView", "statuses")?.arrayValue?.count == 2)
        }
    }

    @Test func resourceGroupsOnDemand() async throws {
        try await withEmulator({ $0.createResourceGroupsOnDemand = true }) { h in
            let r = try await h.send(
                "PUT",
                "/subscriptions/\(h.sub)/resourceGroups/fresh/providers/Microsoft.Compute/disks/d?api-version=2024-03-02",
                json: ["location": "westus", "properties": ["creationData": ["createOption": "Empty"], "diskSizeGB": 1]]
            )
            #expect(r.status == 202)
            #expect(
                try await h.send("GET", "/subscriptions/\(h.sub)/resourceGroups/fresh?api-version=2021-04-01").status
                    == 200)
        }
    }

    @Test func aTakenPortFailsTheStartCleanly() async throws {
        try await withEmulator(getToken: false) { h in
            let port = try #require(URL(string: h.endpoints.arm)?.port)
            var config = EmulatorConfiguration()
            config.port = port
            let dir = Harness.freshDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let second = EmulatorServer(configuration: config, stateDirectory: dir, backend: InMemoryDiskBackend())
            await #expect(throws: EmulatorStartError.self) { _ = try await second.start() }
            await second.stop()
            #expect(try await h.vm().status == 401)  // the first one still answers
        }
    }
}
