import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

@testable import AzureEmulator

/// An HTTP answer, decoded for assertions.
struct HTTPResult: Sendable {
    var status: Int
    /// Lower-cased names; repeated headers joined with ",".
    var headers: [String: String]
    var body: Data
    var json: JSON? { try? JSON.decode(body) }
    var text: String { String(decoding: body, as: UTF8.self) }
    var errorCode: String? { json?.at("error", "code")?.stringValue }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A running in-process emulator (in-memory backend unless given another), and a real HTTP client.
struct Harness: Sendable {
    let server: EmulatorServer
    let endpoints: EmulatorEndpoints
    /// The backend the server uses; the loop-device tests pass their own.
    let diskBackend: any DiskBackend
    /// The in-memory backend (only valid when no other backend was given).
    var backend: InMemoryDiskBackend { diskBackend as! InMemoryDiskBackend }
    let stateDirectory: URL
    let configuration: EmulatorConfiguration
    var token: String = ""

    static func freshDirectory() -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-emu-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func start(
        stateDirectory: URL? = nil, backend: (any DiskBackend)? = nil, getToken: Bool = true,
        _ configure: (inout EmulatorConfiguration) -> Void = { _ in }
    ) async throws -> Harness {
        var config = EmulatorConfiguration()
        configure(&config)
        let dir = stateDirectory ?? freshDirectory()
        let backend = backend ?? InMemoryDiskBackend(deviceRoot: dir.appendingPathComponent("dev").path)
        let server = EmulatorServer(configuration: config, stateDirectory: dir, backend: backend)
        let endpoints = try await server.start()
        var h = Harness(
            server: server, endpoints: endpoints, diskBackend: backend, stateDirectory: dir, configuration: config)
        if getToken {
            do { h.token = try await h.clientSecretToken() } catch {
                await server.stop()
                throw error
            }
        }
        return h
    }

    func stop(removeState: Bool = true) async {
        await server.stop()
        if removeState { try? FileManager.default.removeItem(at: stateDirectory) }
    }

    var sub: String { configuration.subscription }
    var rg: String { configuration.builderVM.resourceGroup }
    var compute: String { "/subscriptions/\(sub)/resourceGroups/\(rg)/providers/Microsoft.Compute" }
    func diskPath(_ name: String, api: String = "2024-03-02") -> String {
        "\(compute)/disks/\(name)?api-version=\(api)"
    }
    func diskID(_ name: String) -> String { "\(compute)/disks/\(name)" }
    func snapshotID(_ name: String) -> String { "\(compute)/snapshots/\(name)" }
    var vmPath: String { "\(compute)/virtualMachines/\(configuration.builderVM.name)?api-version=2024-07-01" }

    /// A client-secret token for `scope` (ARM, as the emulator's own URL, unless told).
    func clientSecretToken(scope: String? = nil) async throws -> String {
        let client = configuration.clients[0]
        let form =
            "grant_type=client_credentials&client_id=\(client.clientID)&client_secret=\(client.secret ?? "")&scope=\(pct(scope ?? endpoints.arm + "/.default"))"
        let r = try await send(
            "POST", "/\(configuration.tenant)/oauth2/v2.0/token", raw: Data(form.utf8),
            headers: ["Content-Type": "application/x-www-form-urlencoded"], auth: false)
        guard r.status == 200, let t = r.json?["access_token"]?.stringValue else {
            throw HarnessError(message: "token request failed: \(r.status) \(r.text)")
        }
        return t
    }

    func pct(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// Sends a request to a path (or an absolute URL) with a bearer token unless `auth` is false.
    func send(
        _ method: String, _ pathOrURL: String, json: JSON? = nil, raw: Data? = nil, headers: [String: String] = [:],
        auth: Bool = true
    ) async throws -> HTTPResult {
        let url = pathOrURL.hasPrefix("http") ? pathOrURL : endpoints.arm + pathOrURL
        var req = HTTPClientRequest(url: url)
        req.method = HTTPMethod(rawValue: method)
        if auth, !token.isEmpty { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let json {
            req.headers.add(name: "Content-Type", value: "application/json")
            req.body = .bytes(ByteBuffer(bytes: json.encoded()))
        } else if let raw {
            req.body = .bytes(ByteBuffer(bytes: raw))
        }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let buf = try await resp.body.collect(upTo: 64 * 1024 * 1024)
        var hs: [String: String] = [:]
        for h in resp.headers {
            let n = h.name.lowercased()
            hs[n] = hs[n].map { $0 + "," + h.value } ?? h.value
        }
        return HTTPResult(status: Int(resp.status.code), headers: hs, body: Data(buf.readableBytesView))
    }

    /// Polls an operation's `Azure-AsyncOperation` URL until it is no longer InProgress
    /// (bounded; each poll advances the emulator).
    func waitForOperation(_ initial: HTTPResult) async throws -> HTTPResult {
        guard let url = initial.header("azure-asyncoperation") else {
            throw HarnessError(message: "no Azure-AsyncOperation header in \(initial.status) \(initial.text)")
        }
        for _ in 0..<600 {
            let r = try await send("GET", url)
            if r.json?["status"]?.stringValue != "InProgress" { return r }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError(message: "operation \(url) did not finish")
    }

    func putDisk(_ name: String, sizeGB: Int = 8, extra: JSON = [:]) async throws -> HTTPResult {
        var body: JSON = [
            "location": "westus", "properties": ["creationData": ["createOption": "Empty"], "diskSizeGB": JSON(sizeGB)]
        ]
        body = body.merging(extra)
        return try await send("PUT", diskPath(name), json: body)
    }

    /// Creates a disk and waits for it.
    @discardableResult
    func createDisk(_ name: String, sizeGB: Int = 8) async throws -> JSON {
        let r = try await putDisk(name, sizeGB: sizeGB)
        guard r.status == 202 else { throw HarnessError(message: "disk PUT answered \(r.status): \(r.text)") }
        _ = try await waitForOperation(r)
        return try await send("GET", diskPath(name)).json ?? .null
    }

    func vm() async throws -> HTTPResult { try await send("GET", vmPath) }

    /// Creates gallery `gallery` and its Linux generalized image definition `definition` (of
    /// `generation`, or Azure's default V1 when nil), waiting for both; returns the
    /// definition's id.
    @discardableResult
    func createDefinition(gallery: String, definition: String, generation: String? = nil) async throws -> String {
        let galleryID = "\(compute)/galleries/\(gallery)"
        _ = try await waitForOperation(
            try await send("PUT", "\(galleryID)?api-version=2024-03-03", json: ["location": "westus"]))
        var properties: JSON = [
            "osType": "Linux", "osState": "Generalized", "identifier": ["publisher": "p", "offer": "o", "sku": "s"]
        ]
        if let generation { properties["hyperVGeneration"] = .string(generation) }
        let definitionID = "\(galleryID)/images/\(definition)"
        _ = try await waitForOperation(
            try await send(
                "PUT", "\(definitionID)?api-version=2024-03-03", json: ["location": "westus", "properties": properties])
        )
        return definitionID
    }

    /// The builder VM's `attachDetachDataDisks` action.
    var attachDetachPath: String {
        "\(compute)/virtualMachines/\(configuration.builderVM.name)/attachDetachDataDisks?api-version=2024-07-01"
    }

    /// Attaches the disk `name` to the builder VM at `lun` by a PATCH of its data disks
    /// (replacing the list, as a PATCH does); returns the PATCH's answer.
    func patchAttach(_ name: String, lun: Int) async throws -> HTTPResult {
        let disk: JSON = ["lun": JSON(lun), "createOption": "Attach", "managedDisk": ["id": .string(diskID(name))]]
        return try await send(
            "PATCH", vmPath, json: ["properties": ["storageProfile": ["dataDisks": [disk]]]])
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs `body` against a fresh emulator and always stops it (which detaches everything).
func withEmulator(
    backend: (any DiskBackend)? = nil, getToken: Bool = true,
    _ configure: (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: (Harness) async throws -> Void
) async throws {
    let h = try await Harness.start(backend: backend, getToken: getToken, configure)
    do { try await body(h) } catch {
        await h.stop()
        throw error
    }
    await h.stop()
}
