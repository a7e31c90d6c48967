import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The real `AzureHTTPTransport`, on AsyncHTTPClient (see docs/design.md, "HTTP client").
///
/// One instance owns one `HTTPClient` (one connection pool) shared by every Azure call of
/// the process. Call `shutdown()` exactly once when done; requests after that fail.
/// Redirects are never followed: ARM does not redirect, and following one would send the
/// bearer token to another host.
public final class AsyncHTTPClientTransport: AzureHTTPTransport {
    /// Where the transport's TLS trust comes from.
    public struct Configuration: Sendable {
        /// A PEM file of extra CA certificates trusted in addition to the system's (the
        /// emulator's CA). Nil trusts the system store only.
        public var extraCAFile: String?
        /// The time allowed to establish a connection, separate from each request's timeout.
        public var connectTimeout: Duration
        /// The largest response body accepted; ARM bodies are small, a bigger one is a fault.
        public var maxResponseBytes: Int

        public init(
            extraCAFile: String? = nil, connectTimeout: Duration = .seconds(10), maxResponseBytes: Int = 32 << 20
        ) {
            self.extraCAFile = extraCAFile
            self.connectTimeout = connectTimeout
            self.maxResponseBytes = maxResponseBytes
        }
    }

    private let client: HTTPClient
    private let maxResponseBytes: Int

    /// Throws when the extra CA file cannot be read as PEM certificates.
    public init(configuration: Configuration = Configuration()) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let path = configuration.extraCAFile {
            // Load now, so a wrong path fails here with the path in the message instead of
            // at the first handshake as an opaque TLS error.
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw AzureTransportError(
                    kind: .invalidRequest, endpoint: "TLS setup",
                    reason: "cannot read the CA certificates in \(path) (\(error)); pass a PEM file")
            }
            tls.additionalTrustRoots = [.certificates(certificates)]
        }
        let timeout = HTTPClient.Configuration.Timeout(connect: .nanoseconds(configuration.connectTimeout.nanoseconds))
        let config = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: timeout)
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
        self.maxResponseBytes = configuration.maxResponseBytes
    }

    /// Closes the connection pool. Call once, after the last request has finished.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// A transport dropped without `shutdown()` (an error path that skipped it) closes its
    /// pool in the background instead of tripping AsyncHTTPClient's "not shut down before
    /// the deinit" precondition, which would take the whole process down: the shutdown keeps
    /// the client alive until it is done. After `shutdown()` this is a no-op answered with
    /// "already shut down".
    deinit {
        client.shutdown { _ in }
    }

    public func send(_ request: AzureHTTPRequest) async throws -> AzureHTTPResponse {
        let endpoint = request.url.endpointForDisplay
        guard let scheme = request.url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw AzureTransportError(
                kind: .invalidRequest, endpoint: endpoint, reason: "only http and https URLs are supported")
        }
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = .init(rawValue: request.method.rawValue)
        for field in request.headers { outgoing.headers.add(name: field.name, value: field.value) }
        if let body = request.body {
            outgoing.body = .bytes(ByteBuffer(bytes: body))
        } else if request.method != .get && request.method != .delete {
            // ARM rejects a bodyless POST/PUT without Content-Length (411).
            outgoing.headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        do {
            let response = try await client.execute(outgoing, timeout: .nanoseconds(request.timeout.nanoseconds))
            let body = try await response.body.collect(upTo: maxResponseBytes)
            let data = Data(body.readableBytesView)
            return AzureHTTPResponse(
                status: Int(response.status.code),
                headers: AzureHTTPHeaders(response.headers.map { ($0.name, $0.value) }),
                body: data
            )
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch {
            throw Self.classify(error, endpoint: endpoint)
        }
    }

    /// Sorts AsyncHTTPClient's and NIO's errors into the retry-relevant kinds.
    static func classify(_ error: any Error, endpoint: String) -> AzureTransportError {
        if let http = error as? HTTPClientError {
            switch http {
            case .connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout, .httpProxyHandshakeTimeout,
                .socksHandshakeTimeout:
                return AzureTransportError(kind: .connectFailed, endpoint: endpoint, reason: "\(http)")
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return AzureTransportError(kind: .timedOut, endpoint: endpoint, reason: "\(http)")
            case .invalidURL, .emptyHost, .emptyScheme:
                return AzureTransportError(kind: .invalidRequest, endpoint: endpoint, reason: "\(http)")
            default:
                return AzureTransportError(kind: .connectionLost, endpoint: endpoint, reason: "\(http)")
            }
        }
        if let ssl = error as? NIOSSLError, case .handshakeFailed = ssl {
            return AzureTransportError(kind: .tlsRejected, endpoint: endpoint, reason: "\(ssl)")
        }
        // NIOConnectionError (every connect attempt failed) lives in NIOPosix, which this
        // module does not link; match it by name rather than add a dependency for one check.
        if error is NIOSSLError || String(describing: type(of: error)) == "NIOConnectionError" {
            return AzureTransportError(kind: .connectFailed, endpoint: endpoint, reason: "\(error)")
        }
        if let io = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL].contains(io.errnoCode) {
            return AzureTransportError(kind: .connectFailed, endpoint: endpoint, reason: "\(io)")
        }
        return AzureTransportError(kind: .connectionLost, endpoint: endpoint, reason: "\(error)")
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating (NIO's `TimeAmount` wants an Int64).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns &+ attoseconds / 1_000_000_000
    }

    /// The duration in seconds as a Double, for messages and arithmetic.
    var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
