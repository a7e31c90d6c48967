import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// Where a running emulator can be reached, and a credential that works against it. Written to
/// `STATE/endpoints.json` and printed by `kiln emulator serve`.
public struct EmulatorEndpoints: Sendable, Codable, Equatable {
    /// Base URL of ARM (`https://management.azure.com` equivalent), plain HTTP.
    public var arm: String
    /// Entra authority host (`https://login.microsoftonline.com` equivalent), plain HTTP.
    public var login: String
    /// The same ARM and Entra endpoints over HTTPS (trust `caFile`), when TLS is on.
    public var https: String?
    /// IMDS base URL (`http://169.254.169.254` equivalent) of builder VM 0.
    public var imds: String
    /// Blob service base URL, path-style: `<blob>/<account>/<container>/<blob>` for any account.
    public var blob: String?
    /// The HTTP proxy URL, when proxy mode is on.
    public var proxy: String?
    /// The CA certificate (PEM) to trust, when TLS is on.
    public var caFile: String?
    /// Where `disk/azure/scsi1/lun<N>` links of builder VM 0 appear.
    public var deviceRoot: String
    /// Builder VM 0's ARM id.
    public var builderVMId: String
    /// Every builder VM, VM 0 first (`--builder-vms N`); nil in files written before there were several.
    public var builderVMs: [BuilderVMEndpoints]?
    public var subscriptionId: String
    public var tenantId: String
    public var location: String
    /// Base URL of the `/_emulator/` control surface.
    public var control: String
    public var stateDirectory: String
    public var credential: Credential

    /// A service principal the emulator accepts.
    public struct Credential: Sendable, Codable, Equatable {
        public var tenantId: String
        public var clientId: String
        public var clientSecret: String?
    }

    /// One builder VM: what Kiln running "on" it needs (`kiln … --emulator-vm INDEX`).
    public struct BuilderVMEndpoints: Sendable, Codable, Equatable {
        public var index: Int
        /// Its ARM id.
        public var id: String
        public var name: String
        /// Its IMDS base URL: `…/_vm/<index>` (VM 0: the server's base URL, as `imds`).
        public var imds: String
        /// Where its `disk/azure/scsi1/lun<N>` links appear.
        public var deviceRoot: String
        /// Its managed identity's client id (IMDS tokens).
        public var identityClientId: String
    }

    /// Builder VM `vm`'s IMDS base URL on a server whose base URL is `base`.
    public static func builderVMIMDS(base: String, vm: Int) -> String { vm == 0 ? base : "\(base)/_vm/\(vm)" }
}

/// What a disk backend factory gets to build a backend for `kiln emulator serve`.
public struct DiskBackendContext: Sendable {
    public var stateDirectory: URL
    public var deviceRoot: URL
    public var platformImages: [PlatformImage]
    /// The busybox of each architecture the platform images' userland is made of.
    public var busybox: BusyboxPaths

    public init(
        stateDirectory: URL, deviceRoot: URL, platformImages: [PlatformImage], busybox: BusyboxPaths = BusyboxPaths()
    ) {
        self.stateDirectory = stateDirectory
        self.deviceRoot = deviceRoot
        self.platformImages = platformImages
        self.busybox = busybox
    }
}

/// Builds the disk backend for a server (the real loop-device one or the in-memory one).
public typealias DiskBackendFactory = @Sendable (DiskBackendContext) throws -> any DiskBackend

/// The emulator as a library: start it in-process on loopback (port 0 picks a free one), use
/// the returned endpoints, stop it. `stop()` frees every loop device through the backend;
/// state stays in the state directory, so a new server on the same directory carries on
/// (in-flight operations included).
public actor EmulatorServer {
    public let configuration: EmulatorConfiguration
    public let stateDirectory: URL
    let backend: any DiskBackend
    let logger: Logger
    /// What the ticker that moves operations on sleeps on.
    let clock: any Clock<Duration>
    var emulator: Emulator?
    var serverTasks: [Task<Void, Never>] = []
    var proxy: ProxyServer?
    var ticker: Task<Void, Never>?
    public private(set) var endpoints: EmulatorEndpoints?

    public init(
        configuration: EmulatorConfiguration, stateDirectory: URL, backend: any DiskBackend,
        logger: Logger = Logger(label: "kiln.emulator"), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.configuration = configuration
        self.stateDirectory = stateDirectory
        self.backend = backend
        self.logger = logger
        self.clock = clock
    }

    /// The device root of builder VM 0 a configuration resolves to for a state directory.
    public static func deviceRoot(for configuration: EmulatorConfiguration, stateDirectory: URL) -> URL {
        configuration.deviceRoot.map { URL(fileURLWithPath: $0) } ?? stateDirectory.appendingPathComponent("dev")
    }

    /// The device root of every builder VM, by index.
    public static func deviceRoots(for configuration: EmulatorConfiguration, stateDirectory: URL) -> [String] {
        let base = deviceRoot(for: configuration, stateDirectory: stateDirectory).path
        return (0..<configuration.builderVMCount).map { BuilderVM.deviceRoot(ofVM: $0, base: base) }
    }

    /// Starts listening. Throws when the state or configuration is unusable or the port is
    /// taken; then nothing is left listening and every disk it re-attached is detached again.
    public func start() async throws -> EmulatorEndpoints {
        if let endpoints { return endpoints }
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        let emulator = try Emulator(
            configuration: configuration, stateDirectory: stateDirectory, backend: backend, logger: logger)
        self.emulator = emulator
        await emulator.restoreAttachments()
        await emulator.persist()
        do {
            return try await listen(emulator)
        } catch {
            await stop()
            throw error
        }
    }

    func listen(_ emulator: Emulator) async throws -> EmulatorEndpoints {

        let host = configuration.host
        let plainPort = try await launch(
            EmulatorResponder(
                emulator: emulator, maxBody: configuration.maxBodyBytes, scheme: "http",
                fallbackHost: "\(host):\(configuration.port)"),
            port: configuration.port, tls: nil)
        let urlHost = host.contains(":") ? "[\(host)]" : host
        let base = "http://\(urlHost):\(plainPort)"
        var secureBase: String?
        var proxyURL: String?
        var caFile: String?
        if configuration.tls || configuration.proxy {
            let ca = try CertificateAuthority.loadOrCreate(in: stateDirectory)
            let issued = try ca.issueServerCertificate()
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(issued.chainPEM.utf8)).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(bytes: Array(issued.keyPEM.utf8), format: .pem)
            let tlsConfig = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(key))
            caFile = ca.caFile.path
            let tlsPort = try await launch(
                EmulatorResponder(
                    emulator: emulator, maxBody: configuration.maxBodyBytes, scheme: "https",
                    fallbackHost: "\(host)"),
                port: 0, tls: tlsConfig)
            secureBase = "https://\(urlHost):\(tlsPort)"
            if configuration.proxy {
                // Listeners only the proxy splices into, so the log can say "via proxy".
                let innerTLS = try await launch(
                    EmulatorResponder(
                        emulator: emulator, maxBody: configuration.maxBodyBytes, scheme: "https",
                        fallbackHost: "management.azure.com", viaProxy: true),
                    port: 0, tls: tlsConfig)
                let innerPlain = try await launch(
                    EmulatorResponder(
                        emulator: emulator, maxBody: configuration.maxBodyBytes, scheme: "http",
                        fallbackHost: "169.254.169.254", viaProxy: true),
                    port: 0, tls: nil)
                let proxy = try await ProxyServer.start(host: host, port: 0, tlsPort: innerTLS, plainPort: innerPlain) {
                    method, target in
                    Task {
                        await emulator.logUnhandled(
                            method: method, host: "proxy", path: target, status: 403, viaProxy: true)
                    }
                }
                self.proxy = proxy
                proxyURL = "http://\(urlHost):\(proxy.port)"
            }
        }

        let client = configuration.clients.first
        let deviceRoots = Self.deviceRoots(for: configuration, stateDirectory: stateDirectory)
        let builderVMs = deviceRoots.indices.map { i in
            let vm = configuration.builderVM(at: i)
            return EmulatorEndpoints.BuilderVMEndpoints(
                index: i, id: configuration.builderVMID(at: i), name: vm.name,
                imds: EmulatorEndpoints.builderVMIMDS(base: base, vm: i), deviceRoot: deviceRoots[i],
                identityClientId: vm.identityClientID)
        }
        let ep = EmulatorEndpoints(
            arm: base, login: base, https: secureBase, imds: base, blob: base + "/blob", proxy: proxyURL,
            caFile: caFile, deviceRoot: deviceRoots[0],
            builderVMId: configuration.builderVMID, builderVMs: builderVMs, subscriptionId: configuration.subscription,
            tenantId: configuration.tenant,
            location: configuration.location, control: base + "/_emulator", stateDirectory: stateDirectory.path,
            credential: .init(
                tenantId: configuration.tenant, clientId: client?.clientID ?? "", clientSecret: client?.secret))
        endpoints = ep
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(ep)
        try data.write(to: stateDirectory.appendingPathComponent("endpoints.json"), options: .atomic)
        let doc = (try? JSON.decode(data)) ?? [:]
        await emulator.setEndpoints(doc, listenBase: base)

        ticker = Task { [emulator, clock] in
            while !Task.isCancelled {
                try? await clock.sleep(for: .milliseconds(100))
                await emulator.advance()
            }
        }
        return ep
    }

    /// Starts one Hummingbird listener; returns its port once it listens.
    func launch(_ responder: EmulatorResponder, port: Int, tls: TLSConfiguration?) async throws -> Int {
        let (stream, continuation) = AsyncStream<Result<Int, any Error>>.makeStream()
        var appLogger = logger
        appLogger.logLevel = .critical  // cancellation at stop() makes Hummingbird log benign shutdown errors
        let app = Application(
            responder: responder,
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: port), serverName: "kiln-emulator"),
            onServerRunning: { channel in continuation.yield(.success(channel.localAddress?.port ?? 0)) },
            logger: appLogger)
        serverTasks.append(
            Task {
                do { try await app.runService(gracefulShutdownSignals: []) } catch {
                    continuation.yield(.failure(error))
                }
                continuation.finish()
            })
        for await result in stream {
            switch result {
            case .success(let p) where p > 0: return p
            case .success: break
            case .failure(let e):
                throw EmulatorStartError(
                    message: "the emulator could not listen on \(configuration.host):\(port): \(e)")
            }
            break
        }
        throw EmulatorStartError(
            message: "the emulator's HTTP server stopped before it listened on \(configuration.host):\(port)")
    }

    /// Stops listening, finishes nothing early, and frees every loop device.
    public func stop() async {
        ticker?.cancel()
        ticker = nil
        await proxy?.stop()
        proxy = nil
        for t in serverTasks { t.cancel() }
        for t in serverTasks { await t.value }
        serverTasks = []
        await emulator?.shutdown()
        emulator = nil
        endpoints = nil
    }
}

/// The emulator could not start.
public struct EmulatorStartError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Hummingbird request context that keeps the channel, so a fault can drop the connection.
struct EmulatorContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    var maxUploadSize: Int { Int.max }
}

/// Adapts Hummingbird requests to the emulator and back.
struct EmulatorResponder: HTTPResponder {
    typealias Context = EmulatorContext
    let emulator: Emulator
    let maxBody: Int
    let scheme: String
    let fallbackHost: String
    var viaProxy = false

    init(emulator: Emulator, maxBody: Int, scheme: String, fallbackHost: String, viaProxy: Bool = false) {
        self.emulator = emulator
        self.maxBody = maxBody
        self.scheme = scheme
        self.fallbackHost = fallbackHost
        self.viaProxy = viaProxy
    }

    func respond(to request: Request, context: EmulatorContext) async throws -> Response {
        let rawPath = request.uri.path
        let host = request.head.authority ?? fallbackHost
        let query = EmulatorRequest.parseQuery(request.uri.query ?? "")
        if let cl = request.headers[.contentLength].flatMap(Int.init), cl > maxBody {
            await emulator.logUnhandled(
                method: request.method.rawValue, host: host, path: rawPath, apiVersion: query["api-version"],
                status: 413, viaProxy: viaProxy)
            return Self.tooLarge(maxBody)
        }
        var req = request
        let buffer: ByteBuffer
        do { buffer = try await req.collectBody(upTo: maxBody) } catch {
            await emulator.logUnhandled(
                method: request.method.rawValue, host: host, path: rawPath, apiVersion: query["api-version"],
                status: 413, viaProxy: viaProxy)
            return Self.tooLarge(maxBody)
        }
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            if let old = headers[name] { headers[name] = old + "," + field.value } else { headers[name] = field.value }
        }
        let er = EmulatorRequest(
            method: request.method.rawValue, path: rawPath.removingPercentEncoding ?? rawPath,
            query: query, headers: headers, body: Data(buffer.readableBytesView), scheme: scheme,
            host: host, viaProxy: viaProxy)
        let r = await emulator.handle(er)
        if r.drop {
            try? await context.channel.close()
            throw CancellationError()
        }
        var fields = HTTPFields()
        for (n, v) in r.headers {
            if let name = HTTPField.Name(n) { fields.append(HTTPField(name: name, value: v)) }
        }
        return Response(
            status: HTTPResponse.Status(code: r.status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: r.body)))
    }

    static func tooLarge(_ max: Int) -> Response {
        let body = ARMError(
            413, "RequestEntityTooLarge", "The request body is larger than the \(max) bytes this emulator accepts."
        ).body.encoded()
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        fields.append(HTTPField(name: HTTPField.Name("x-ms-request-id")!, value: UUID().uuidString.lowercased()))
        fields[.connection] = "close"
        return Response(
            status: .contentTooLarge, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
