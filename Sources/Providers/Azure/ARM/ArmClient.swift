import Foundation
import Logging
import Model

/// The Azure Resource Manager client for what Kiln needs: disks, snapshots, images,
/// galleries and their images and versions, virtual machines (read, attach and detach data
/// disks), platform images, and resources by tag.
///
/// Every call authenticates with `credential`, is retried on throttling, server errors and
/// connection failures per `retry` (see `AzureRetrySafety` for POST), and fails with an
/// `ArmError` naming the operation, resource, status, Azure's code and message, and the
/// request id. Mutations return a `LongRunningOperation` whose `handle` can be stored and
/// re-joined later. All waiting goes through `clock`, so tests run without sleeping;
/// cancelling the task stops a call or a wait with `CancellationError` (the Azure operation
/// itself continues and can be re-joined).
public struct ArmClient: Sendable {
    public var cloud: AzureCloud
    public var transport: any AzureHTTPTransport
    public var credential: any TokenCredential
    public var clock: any Clock<Duration>
    public var retry: AzureRetryPolicy
    public var polling: LongRunningPollPolicy
    public var apiVersions: ArmAPIVersions
    /// Per-request timeout (each try); operation timeouts are given per wait.
    public var requestTimeout: Duration
    public var logger: Logger
    /// Sent as `x-ms-correlation-request-id` on every request of this client, so Azure's
    /// activity log (and support) can group one Kiln run's calls.
    public var correlationID: String

    public init(
        cloud: AzureCloud,
        transport: any AzureHTTPTransport,
        credential: any TokenCredential,
        clock: any Clock<Duration> = ContinuousClock(),
        retry: AzureRetryPolicy = .arm,
        polling: LongRunningPollPolicy = LongRunningPollPolicy(),
        apiVersions: ArmAPIVersions = .pinned,
        requestTimeout: Duration = .seconds(60),
        logger: Logger = Logger(label: "kiln.azure.arm"),
        correlationID: String = UUID().uuidString.lowercased()
    ) {
        self.correlationID = correlationID
        self.cloud = cloud
        self.transport = transport
        self.credential = credential
        self.clock = clock
        self.retry = retry
        self.polling = polling
        self.apiVersions = apiVersions
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    // MARK: URLs

    /// The URL of a resource (or an action below it) with its api-version.
    public func url(for id: ResourceID, action: String? = nil, query: [(String, String)] = []) -> URL {
        var path = id.armPath
        if let action { path += "/" + action }
        return cloud.resourceManager.appendingArmPath(
            path, query: [("api-version", apiVersions.version(for: id))] + query)
    }

    /// The URL of a path below the subscription (lists, platform images), with `apiVersion`.
    func url(path: String, apiVersion: String, query: [(String, String)] = []) -> URL {
        cloud.resourceManager.appendingArmPath(path, query: [("api-version", apiVersion)] + query)
    }

    // MARK: Sending

    /// Sends one ARM request and returns the response when its status is 2xx; any other
    /// status becomes an `ArmError`. A 401 for an expired or invalid token is retried once
    /// with a fresh token.
    func send(
        _ method: AzureHTTPMethod, _ url: URL, body: Data? = nil, headers extra: AzureHTTPHeaders = [:],
        operation: String, resource: String, safety: AzureRetrySafety? = nil, allow404: Bool = false
    ) async throws -> AzureHTTPResponse {
        let safety = safety ?? (method == .post ? .onlyIfNotProcessed : .idempotent)
        // Operation URLs and nextLinks come from responses; never hand the bearer token to a
        // host other than ARM's, whatever a response says.
        guard Self.sameOrigin(url, cloud.resourceManager) else {
            throw ArmError(
                kind: .invalidResponse, operation: operation, resource: resource,
                message:
                    "refusing to send the ARM token to \(url.endpointForDisplay), which is not \(cloud.resourceManager.endpointForDisplay)"
            )
        }
        var refreshedToken = false
        while true {
            let token: AzureAccessToken
            do {
                token = try await credential.token(for: cloud.armScope)
            } catch let error as AzureCredentialError {
                throw ArmError(
                    kind: .authentication, operation: operation, resource: resource, message: error.description)
            }
            var headers = extra
            headers.set("Authorization", "Bearer \(token.token.exposedValue)")
            headers.set("Accept", "application/json")
            headers.set("x-ms-client-request-id", UUID().uuidString.lowercased())
            headers.set("x-ms-correlation-request-id", correlationID)
            headers.set("User-Agent", KilnVersion.userAgent)
            if body != nil { headers.set("Content-Type", "application/json") }
            let request = AzureHTTPRequest(
                method: method, url: url, headers: headers, body: body, timeout: requestTimeout)
            logger.debug("ARM request", metadata: ["request": "\(request)", "operation": "\(operation)"])
            let response: AzureHTTPResponse
            do {
                response = try await sendWithRetries(
                    request, transport: transport, policy: retry, safety: safety, clock: clock, logger: logger)
            } catch let error as AzureTransportError {
                throw ArmError(operation: operation, resource: resource, transport: error)
            }
            if response.isSuccess || (allow404 && response.status == 404) { return response }
            if response.status == 401, !refreshedToken, let caching = credential as? CachingTokenCredential {
                // The token may have expired between the cache check and ARM's; one fresh try.
                refreshedToken = true
                await caching.invalidate(scope: cloud.armScope)
                continue
            }
            throw ArmError(operation: operation, resource: resource, response: response)
        }
    }

    /// Same scheme, host (case-insensitive) and port, default ports filled in.
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        func origin(_ u: URL) -> (String, String, Int) {
            let scheme = (u.scheme ?? "").lowercased()
            return (scheme, (u.host ?? "").lowercased(), u.port ?? (scheme == "http" ? 80 : 443))
        }
        return origin(a) == origin(b)
    }

    // MARK: Generic resource operations

    /// GETs a resource; nil when ARM answers 404.
    public func get<T: Decodable>(
        _ id: ResourceID, as type: T.Type, query: [(String, String)] = [], operation: String? = nil
    ) async throws -> T? {
        let op = operation ?? "read \(Self.noun(for: id))"
        let response = try await send(
            .get, url(for: id, query: query), operation: op, resource: id.description, allow404: true)
        if response.status == 404 { return nil }
        return try decode(T.self, from: response, operation: op, resource: id.description)
    }

    /// Starts a PUT (create or replace) and returns its operation.
    public func beginPut<Body: Encodable>(
        _ id: ResourceID, body: Body, headers: AzureHTTPHeaders = [:], operation: String? = nil
    ) async throws -> LongRunningOperation {
        let op = operation ?? "create \(Self.noun(for: id))"
        return try await begin(.put, id: id, url: url(for: id), body: encode(body), headers: headers, operation: op)
    }

    /// Starts a PATCH and returns its operation.
    public func beginPatch<Body: Encodable>(
        _ id: ResourceID, body: Body, headers: AzureHTTPHeaders = [:], operation: String? = nil
    ) async throws -> LongRunningOperation {
        let op = operation ?? "update \(Self.noun(for: id))"
        return try await begin(.patch, id: id, url: url(for: id), body: encode(body), headers: headers, operation: op)
    }

    /// Starts a DELETE and returns its operation; a missing resource is already deleted.
    public func beginDelete(_ id: ResourceID, operation: String? = nil) async throws -> LongRunningOperation {
        let op = operation ?? "delete \(Self.noun(for: id))"
        let target = url(for: id)
        let response = try await send(.delete, target, operation: op, resource: id.description, allow404: true)
        let initial = response.status == 404 ? AzureHTTPResponse(status: 204, headers: response.headers) : response
        return try LongRunningOperation(
            start: initial, method: .delete, resourceURL: target, operation: op, resource: id.description, client: self,
            now: Date())
    }

    /// Starts a POST action (`{id}/{action}`) and returns its operation.
    public func beginAction<Body: Encodable>(_ id: ResourceID, action: String, body: Body, operation: String)
        async throws -> LongRunningOperation
    {
        try await begin(
            .post, id: id, url: url(for: id, action: action), body: encode(body), headers: [:], operation: operation)
    }

    func begin(
        _ method: AzureHTTPMethod, id: ResourceID, url: URL, body: Data, headers: AzureHTTPHeaders, operation: String
    ) async throws -> LongRunningOperation {
        let response = try await send(
            method, url, body: body, headers: headers, operation: operation, resource: id.description)
        let resourceURL = method == .post ? self.url(for: id) : url
        return try LongRunningOperation(
            start: response, method: method, resourceURL: resourceURL, operation: operation, resource: id.description,
            client: self, now: Date())
    }

    /// Rebuilds an operation from a stored handle, to wait for it instead of starting it again.
    public func operation(resuming handle: OperationHandle) -> LongRunningOperation {
        LongRunningOperation(handle: handle, client: self)
    }

    // MARK: Coding

    func encode<Body: Encodable>(_ body: Body) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(body)
    }

    func decode<T: Decodable>(_ type: T.Type, from response: AzureHTTPResponse, operation: String, resource: String)
        throws -> T
    {
        do {
            return try ArmJSON.decoder.decode(T.self, from: response.body)
        } catch {
            throw ArmError(
                kind: .invalidResponse, operation: operation, resource: resource, status: response.status,
                message: "the answer is not the expected JSON (\(ArmJSON.describe(error)))",
                requestID: response.requestID)
        }
    }

    /// "disk", "snapshot", "gallery image version", ... for operation names.
    static func noun(for id: ResourceID) -> String {
        switch id.segments.map({ $0.type.lowercased() }) {
        case ["disks"]: "disk"
        case ["snapshots"]: "snapshot"
        case ["images"]: "image"
        case ["galleries"]: "gallery"
        case ["galleries", "images"]: "gallery image definition"
        case ["galleries", "images", "versions"]: "gallery image version"
        case ["virtualmachines"]: "virtual machine"
        default: "resource"
        }
    }
}

/// JSON decoding shared by the ARM models.
enum ArmJSON {
    static let decoder = JSONDecoder()

    /// A short reason for a decoding error: which field, what was wrong.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "the body" : p
        }
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(path(c)): \(c.debugDescription)"
        case .keyNotFound(let key, let c): return "\(path(c)): missing \(key.stringValue)"
        case .dataCorrupted(let c): return "\(path(c)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

extension ResourceID {
    /// The URL path of this id, each segment percent-encoded.
    var armPath: String {
        var path =
            "/subscriptions/\(subscription.armPathEncoded)/resourceGroups/\(resourceGroup.armPathEncoded)/providers/\(provider.armPathEncoded)"
        for s in segments { path += "/\(s.type.armPathEncoded)/\(s.name.armPathEncoded)" }
        return path
    }
}
