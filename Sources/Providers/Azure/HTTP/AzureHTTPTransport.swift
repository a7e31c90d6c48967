import Foundation

/// The HTTP methods Kiln sends to Azure.
public enum AzureHTTPMethod: String, Sendable, Codable, Hashable {
    case get = "GET"
    case put = "PUT"
    case patch = "PATCH"
    case post = "POST"
    case delete = "DELETE"
}

/// An ordered list of HTTP header fields with case-insensitive lookup (HTTP field names are
/// case-insensitive, and Azure answers `Retry-After`, `retry-after` or `RETRY-AFTER`).
public struct AzureHTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [Field]

    /// One header field.
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    public init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { Field(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The first value of `name`, compared case-insensitively.
    public subscript(name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }?.value
    }

    /// Replaces every field called `name` with one field holding `value`.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append(Field(name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        let lower = name.lowercased()
        fields.removeAll { $0.name.lowercased() == lower }
    }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

/// One HTTP request to an Azure endpoint (ARM, Entra ID, IMDS, the emulator).
///
/// Its `description` leaves out the headers and the body: they carry bearer tokens and
/// client secrets, and descriptions end up in logs and error messages.
public struct AzureHTTPRequest: Sendable, CustomStringConvertible {
    public var method: AzureHTTPMethod
    public var url: URL
    public var headers: AzureHTTPHeaders
    public var body: Data?
    /// The whole exchange (connect, send, receive) must finish within this time.
    public var timeout: Duration

    public init(
        method: AzureHTTPMethod, url: URL, headers: AzureHTTPHeaders = [:], body: Data? = nil,
        timeout: Duration = .seconds(60)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    public var description: String { "\(method.rawValue) \(url.redactedForDisplay)" }
}

/// The answer to an `AzureHTTPRequest`: any status, including errors (the transport does
/// not interpret statuses; the callers do).
public struct AzureHTTPResponse: Sendable {
    public var status: Int
    public var headers: AzureHTTPHeaders
    public var body: Data

    public init(status: Int, headers: AzureHTTPHeaders = [:], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `x-ms-request-id`, the id Azure support asks for.
    public var requestID: String? { headers["x-ms-request-id"] }
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Why a request got no HTTP answer at all.
public struct AzureTransportError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, which also decides whether a retry is safe.
    public enum Kind: Sendable, Hashable {
        /// No connection could be made (refused, no route, DNS, TLS handshake): the request
        /// was never sent, so a retry is safe for every method.
        case connectFailed
        /// The connection broke after the request may have been sent: the server may have
        /// acted on it.
        case connectionLost
        /// No complete answer within the request's timeout; the server may have acted on it.
        case timedOut
        /// The TLS handshake failed, typically an untrusted certificate: repeating will not
        /// help, trusting the right CA will.
        case tlsRejected
        /// The request could not be built (bad URL, unsupported scheme).
        case invalidRequest
    }

    public var kind: Kind
    /// Scheme, host and port, never the path or query.
    public var endpoint: String
    /// The underlying library's explanation.
    public var reason: String

    public init(kind: Kind, endpoint: String, reason: String) {
        self.kind = kind
        self.endpoint = endpoint
        self.reason = reason
    }

    public var description: String {
        switch kind {
        case .connectFailed: "could not connect to \(endpoint): \(reason)"
        case .connectionLost: "the connection to \(endpoint) broke before an answer arrived: \(reason)"
        case .timedOut: "\(endpoint) did not answer in time: \(reason)"
        case .tlsRejected:
            "the TLS handshake with \(endpoint) failed (\(reason)); if this is kiln emulator, trust its CA file (caFile in endpoints.json)"
        case .invalidRequest: "could not send a request to \(endpoint): \(reason)"
        }
    }
}

/// Sends HTTP requests. The real implementation is `AsyncHTTPClientTransport`; tests use
/// `ScriptedHTTPTransport`. Every Azure call (ARM, Entra ID, IMDS) goes through one.
///
/// Contract: returns the response for any HTTP status; throws `AzureTransportError` when no
/// answer arrived, or `CancellationError` when the task was cancelled.
public protocol AzureHTTPTransport: Sendable {
    func send(_ request: AzureHTTPRequest) async throws -> AzureHTTPResponse
}

extension URL {
    /// `scheme://host[:port]`, for messages about connections.
    var endpointForDisplay: String {
        var s = "\(scheme ?? "?")://\(host ?? "?")"
        if let port { s += ":\(port)" }
        return s
    }

    /// The URL without its query: queries may carry SAS signatures or tokens in general, and
    /// the path is what a reader needs.
    var redactedForDisplay: String {
        guard var c = URLComponents(url: self, resolvingAgainstBaseURL: false) else { return endpointForDisplay }
        let apiVersion = c.queryItems?.first { $0.name == "api-version" }
        c.queryItems = apiVersion.map { [$0] }
        c.user = nil
        c.password = nil
        return c.string ?? endpointForDisplay
    }
}
