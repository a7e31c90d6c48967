import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

@testable import AzureEmulator

@Suite("TLS listener and proxy mode")
struct ProxyAndTLSTests {
    func client(_ h: Harness, proxy: Bool) throws -> HTTPClient {
        let caPath = try #require(h.endpoints.caFile)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(caPath)
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        // A refused CONNECT makes AsyncHTTPClient retry the connection until this timeout.
        config.timeout.connect = .seconds(1)
        if proxy, let p = h.endpoints.proxy, let url = URL(string: p), let host = url.host, let port = url.port {
            config.proxy = .server(host: host, port: port)
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    func get(
        _ c: HTTPClient, _ url: String, headers: [String: String] = [:], method: HTTPMethod = .GET, body: String? = nil
    ) async throws -> HTTPResult {
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let resp = try await c.execute(req, timeout: .seconds(30))
        let buf = try await resp.body.collect(upTo: 1 << 24)
        var hs: [String: String] = [:]
        for h in resp.headers { hs[h.name.lowercased()] = h.value }
        return HTTPResult(status: Int(resp.status.code), headers: hs, body: Data(buf.readableBytesView))
    }

    @Test func httpsListenerUsesTheGeneratedCA() async throws {
        try await withEmulator(getToken: false, { $0.proxy = false }) { h in
            let https = try #require(h.endpoints.https)
            #expect(https.hasPrefix("https://127.0.0.1:"))
            #expect(h.endpoints.proxy == nil)
            let c = try client(h, proxy: false)
            do {
                let r = try await get(c, https + "/metadata/endpoints?api-version=2022-09-01")
                #expect(r.status == 200)
                #expect(r.json?["resourceManager"]?.stringValue == https + "/")
                #expect(FileManager.default.fileExists(atPath: h.stateDirectory.appendingPathComponent("ca.pem").path))
            } catch {
                try? await c.shutdown()
                throw error
            }
            try await c.shutdown()
        }
    }

    @Test func plainOnlyHasNoCAAndNoProxy() async throws {
        try await withEmulator(
            getToken: false,
            {
                $0.tls = false
                $0.proxy = false
            }
        ) { h in
            #expect(h.endpoints.https == nil)
            #expect(h.endpoints.proxy == nil)
            #expect(h.endpoints.caFile == nil)
            #expect(!FileManager.default.fileExists(atPath: h.stateDirectory.appendingPathComponent("ca.pem").path))
        }
    }

    @Test func proxyReachesTheEmulatorUnderAzureNamesAndNothingElse() async throws {
        try await withEmulator(getToken: false) { h in
            let c = try client(h, proxy: true)
            do {
                let sub = h.configuration.subscription
                let tenant = h.configuration.tenant
                let probe = try await get(c, "https://management.azure.com/subscriptions/\(sub)?api-version=2016-06-01")
                #expect(probe.status == 401)
                #expect(
                    probe.header("www-authenticate")?.contains(
                        "authorization_uri=\"https://login.microsoftonline.com/\(tenant)\"") == true)
                let form =
                    "grant_type=client_credentials&client_id=\(h.configuration.clients[0].clientID)&client_secret=kiln-emulator-secret&resource=https%3A%2F%2Fmanagement.azure.com%2F"
                let tok = try await get(
                    c, "https://login.microsoftonline.com/\(tenant)/oauth2/token?api-version=1.0",
                    headers: ["Content-Type": "application/x-www-form-urlencoded"], method: .POST, body: form)
                #expect(tok.status == 200)
                let token = try #require(tok.json?["access_token"]?.stringValue)
                let disk =
                    "https://management.azure.com/subscriptions/\(sub)/resourceGroups/\(h.rg)/providers/Microsoft.Compute/disks/viaproxy?api-version=2019-11-01"
                let put = try await get(
                    c, disk, headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                    method: .PUT,
                    body:
                        #"{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}"#)
                #expect(put.status == 202)
                #expect(
                    put.header("azure-asyncoperation")?.hasPrefix(
                        "https://management.azure.com/subscriptions/\(sub)/providers/Microsoft.Compute/locations/westus/DiskOperations/"
                    ) == true)
                let imds = try await get(
                    c, "http://169.254.169.254/metadata/instance?api-version=2017-08-01", headers: ["Metadata": "true"])
                #expect(imds.status == 200)
                #expect(imds.json?.at("compute", "name")?.stringValue == "kiln-builder")
                await #expect(throws: (any Error).self) { _ = try await get(c, "https://example.com/") }
                // AsyncHTTPClient tunnels plain HTTP with CONNECT too; the refusal surfaces as an error.
                await #expect(throws: (any Error).self) { _ = try await get(c, "http://example.com/") }
                // The proxy logs its refusals asynchronously: poll the log a bounded number of times.
                var entries: [JSON] = []
                for _ in 0..<100 {
                    entries =
                        try await h.send("GET", h.endpoints.control + "/requests", auth: false).json?.arrayValue ?? []
                    if entries.contains(where: { $0["status"]?.intValue == 403 }) { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(
                    entries.contains {
                        $0["host"]?.stringValue == "management.azure.com" && $0["viaProxy"]?.boolValue == true
                    })
                #expect(
                    entries.contains {
                        $0["host"]?.stringValue == "169.254.169.254" && $0["viaProxy"]?.boolValue == true
                    })
                #expect(entries.contains { $0["status"]?.intValue == 403 })
            } catch {
                try? await c.shutdown()
                throw error
            }
            try await c.shutdown()
        }
    }
}

/// The Blob service under Azure's own host names, through the proxy.
@Suite("Blob storage through the proxy")
struct BlobProxyTests {
    @Test func anAccountsBlobHostReachesTheEmulatorsBlobService() async throws {
        try await withEmulator { h in
            let tests = ProxyAndTLSTests()
            let c = try tests.client(h, proxy: true)
            do {
                let t = try await h.storageToken()
                let auth = ["Authorization": "Bearer \(t)", "x-ms-version": Harness.storageVersion]
                let base = "https://kilnstate.blob.core.windows.net"
                let created = try await tests.get(c, "\(base)/viaproxy?restype=container", headers: auth, method: .PUT)
                #expect(created.status == 201)
                let put = try await tests.get(
                    c, "\(base)/viaproxy/a.txt", headers: auth.merging(["x-ms-blob-type": "BlockBlob"]) { $1 },
                    method: .PUT, body: "hello")
                #expect(put.status == 201)
                // The same blob at the path-style address: one account, two spellings.
                #expect(try await h.blob("GET", "viaproxy/a.txt", token: t).text == "hello")
                let list = try await tests.get(c, "\(base)/viaproxy?restype=container&comp=list", headers: auth)
                #expect(list.text.contains("ServiceEndpoint=\"\(base)/\""))
                let anonymous = try await tests.get(
                    c, "\(base)/viaproxy/a.txt", headers: ["x-ms-version": "2025-01-05"])
                #expect(anonymous.status == 401)
                #expect(
                    anonymous.header("www-authenticate")?.contains(
                        "authorization_uri=https://login.microsoftonline.com/")
                        == true)
            } catch {
                try? await c.shutdown()
                throw error
            }
            try await c.shutdown()
        }
    }
}
