import Foundation
import Logging
import Model

/// Where a cloud's Blob service is: `https://<account>.blob.<suffix>` (Azure), or one base URL
/// with the account as the first path segment (the emulator, as Azure's own storage emulator
/// addresses accounts).
public enum BlobServiceEndpoint: Sendable, Hashable, Codable {
    case hostStyle(suffix: String)
    case pathStyle(base: URL)

    /// Azure's public cloud.
    public static let azure = BlobServiceEndpoint.hostStyle(suffix: "blob.core.windows.net")

    /// The URL of `container` (and `blob` in it) in `account`.
    func url(account: StorageAccountName, container: BlobContainerName, blob: String?, query: [(String, String)])
        -> URL
    {
        var components: URLComponents
        var path: String
        switch self {
        case .hostStyle(let suffix):
            components = URLComponents()
            components.scheme = "https"
            components.host = "\(account.value).\(suffix)"
            path = ""
        case .pathStyle(let base):
            components = URLComponents(url: base, resolvingAgainstBaseURL: false) ?? URLComponents()
            path = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
            path += "/" + account.value
        }
        path += "/" + container.value
        if let blob { path += "/" + blob }
        components.percentEncodedPath = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
        components.queryItems = query.isEmpty ? nil : query.map { URLQueryItem(name: $0.0, value: $0.1) }
        return components.url!
    }
}

/// A blob's content and the properties Kiln reads.
public struct BlobContent: Sendable {
    public var data: Data
    public var etag: String
    /// `x-ms-lease-state`: `available`, `leased`, `expired`, `breaking` or `broken`.
    public var leaseState: String?
    public var lastModified: String?
}

/// What a write must find to go ahead (Azure's conditional headers).
public enum BlobWriteCondition: Sendable, Equatable {
    /// The blob must not exist (`If-None-Match: *`).
    case absent
    /// The blob must still have this ETag (`If-Match`).
    case unchanged(etag: String)
}

/// A lease action (`PUT …?comp=lease`, `x-ms-lease-action`).
public enum BlobLeaseAction: Sendable, Equatable {
    case acquire(seconds: Int, proposedID: String)
    case renew(id: String)
    case release(id: String)
    case breakNow
}

/// A failed Blob service call: the operation, the blob, Azure Storage's status, code
/// (`x-ms-error-code`), message and request id. Never carries a header or a token.
public struct BlobError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var blob: String
    public var status: Int?
    public var code: String?
    public var message: String?
    public var requestID: String?

    public var description: String {
        var s = "\(operation) \(blob) failed"
        if let status { s += ": HTTP \(status)" }
        if let code { s += " \(code)" }
        if let message { s += ": \(message)" }
        if let requestID { s += " (request id \(requestID))" }
        return s
    }
}

/// The Blob service calls Kiln's remote state makes, with bearer tokens for the storage
/// audience from Kiln's credential chain, retried like ARM calls where repeating is safe.
public struct BlobClient: Sendable {
    /// The `x-ms-version` sent (a version with bearer-token and lease support).
    public static let serviceVersion = "2025-01-05"
    /// The audience of storage tokens in every cloud.
    public static let scope = "https://storage.azure.com/.default"

    public let endpoint: BlobServiceEndpoint
    let transport: any AzureHTTPTransport
    let credential: any TokenCredential
    let clock: any Clock<Duration>
    let logger: Logger
    var retry = AzureRetryPolicy.arm
    var requestTimeout: Duration = .seconds(30)

    public init(
        endpoint: BlobServiceEndpoint, transport: any AzureHTTPTransport, credential: any TokenCredential,
        clock: any Clock<Duration> = ContinuousClock(), logger: Logger = Logger(label: "kiln.blob")
    ) {
        self.endpoint = endpoint
        self.transport = transport
        self.credential = credential
        self.clock = clock
        self.logger = logger
    }

    /// The blob's content and ETag; nil when there is no such blob.
    public func get(_ location: AzureBlobState, blob: String) async throws -> BlobContent? {
        let response = try await send(.get, location, blob: blob, operation: "read blob", accept: [404])
        guard response.status != 404 else { return nil }
        guard let etag = response.headers["ETag"] else {
            throw BlobError(operation: "read blob", blob: blob, message: "the answer has no ETag")
        }
        return BlobContent(
            data: response.body, etag: etag, leaseState: response.headers["x-ms-lease-state"],
            lastModified: response.headers["Last-Modified"])
    }

    /// Writes a block blob when `condition` holds; returns the new ETag. A failed condition is
    /// a `BlobError` with status 412 (`ConditionNotMet`) or 409 (`BlobAlreadyExists`).
    @discardableResult
    public func put(
        _ location: AzureBlobState, blob: String, data: Data, condition: BlobWriteCondition, leaseID: String? = nil
    ) async throws -> String {
        var headers: AzureHTTPHeaders = ["x-ms-blob-type": "BlockBlob", "Content-Type": "application/json"]
        switch condition {
        case .absent: headers.set("If-None-Match", "*")
        case .unchanged(let etag): headers.set("If-Match", etag)
        }
        if let leaseID { headers.set("x-ms-lease-id", leaseID) }
        let response = try await send(
            .put, location, blob: blob, headers: headers, body: data, operation: "write blob",
            safety: .onlyIfNotProcessed)
        guard let etag = response.headers["ETag"] else {
            throw BlobError(operation: "write blob", blob: blob, message: "the answer has no ETag")
        }
        return etag
    }

    /// Creates the container; one that exists already is fine.
    public func createContainer(_ location: AzureBlobState) async throws {
        _ = try await send(
            .put, location, blob: nil, query: [("restype", "container")], operation: "create container",
            accept: [409])
    }

    /// Runs a lease action on the blob; returns the lease id Azure answers (acquire, renew).
    @discardableResult
    public func lease(_ location: AzureBlobState, blob: String, _ action: BlobLeaseAction) async throws -> String? {
        var headers: AzureHTTPHeaders = [:]
        let name: String
        switch action {
        case .acquire(let seconds, let proposed):
            name = "acquire"
            headers.set("x-ms-lease-duration", String(seconds))
            headers.set("x-ms-proposed-lease-id", proposed)
        case .renew(let id):
            name = "renew"
            headers.set("x-ms-lease-id", id)
        case .release(let id):
            name = "release"
            headers.set("x-ms-lease-id", id)
        case .breakNow:
            name = "break"
            headers.set("x-ms-lease-break-period", "0")
        }
        headers.set("x-ms-lease-action", name)
        let response = try await send(
            .put, location, blob: blob, query: [("comp", "lease")], headers: headers,
            operation: "\(name) the lease of", safety: .onlyIfNotProcessed)
        return response.headers["x-ms-lease-id"]
    }

    /// The blob's URL, for messages.
    public func url(_ location: AzureBlobState, blob: String) -> String {
        endpoint.url(account: location.account, container: location.container, blob: blob, query: []).absoluteString
    }

    private func send(
        _ method: AzureHTTPMethod, _ location: AzureBlobState, blob: String?, query: [(String, String)] = [],
        headers extra: AzureHTTPHeaders = [:], body: Data? = nil, operation: String,
        safety: AzureRetrySafety = .idempotent, accept: Set<Int> = []
    ) async throws -> AzureHTTPResponse {
        let shown = blob.map { url(location, blob: $0) } ?? "container \(location.description)"
        let address = endpoint.url(account: location.account, container: location.container, blob: blob, query: query)
        var refreshed = false
        while true {
            let token: AzureAccessToken
            do {
                token = try await credential.token(for: Self.scope)
            } catch {
                throw BlobError(operation: operation, blob: shown, message: "no storage token: \(error)")
            }
            var headers = extra
            headers.set("Authorization", "Bearer \(token.token.exposedValue)")
            headers.set("x-ms-version", Self.serviceVersion)
            headers.set("x-ms-client-request-id", UUID().uuidString.lowercased())
            headers.set("User-Agent", KilnVersion.userAgent)
            headers.set("x-ms-date", rfc1123(Date()))
            let request = AzureHTTPRequest(
                method: method, url: address, headers: headers, body: body ?? (method == .put ? Data() : nil),
                timeout: requestTimeout)
            let response: AzureHTTPResponse
            do {
                response = try await sendWithRetries(
                    request, transport: transport, policy: retry, safety: safety, clock: clock, logger: logger)
            } catch let error as AzureTransportError {
                throw BlobError(operation: operation, blob: shown, message: error.description)
            }
            if response.isSuccess || accept.contains(response.status) { return response }
            if response.status == 401, !refreshed, let caching = credential as? CachingTokenCredential {
                refreshed = true
                await caching.invalidate(scope: Self.scope)
                continue
            }
            throw BlobError(
                operation: operation, blob: shown, status: response.status,
                code: response.headers["x-ms-error-code"], message: Self.message(in: response.body),
                requestID: response.requestID)
        }
    }

    /// The first line of `<Message>` in Azure Storage's XML error (its text ends with the
    /// request id and time, which the error carries already).
    static func message(in body: Data) -> String? {
        guard let text = String(data: body, encoding: .utf8),
            let start = text.range(of: "<Message>"),
            let end = text.range(of: "</Message>", range: start.upperBound..<text.endIndex)
        else { return nil }
        return text[start.upperBound..<end.lowerBound].split(separator: "\n").first.map(String.init)
    }
}

/// `Sun, 06 Dec 2026 20:00:00 GMT` (`x-ms-date`, which every authorised request carries).
func rfc1123(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    return formatter.string(from: date)
}
