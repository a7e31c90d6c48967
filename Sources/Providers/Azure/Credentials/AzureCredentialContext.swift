import Foundation
import Logging

/// What every credential needs from its surroundings: the cloud, the HTTP transport, a clock
/// for retries, wall time for expiry, and a logger. Injected so tests can script all of it.
public struct AzureCredentialContext: Sendable {
    public var cloud: AzureCloud
    public var transport: any AzureHTTPTransport
    public var clock: any Clock<Duration>
    public var retry: AzureRetryPolicy
    /// Per-request timeout for token endpoints.
    public var timeout: Duration
    public var now: @Sendable () -> Date
    public var logger: Logger

    public init(
        cloud: AzureCloud,
        transport: any AzureHTTPTransport,
        clock: any Clock<Duration> = ContinuousClock(),
        // As many tries as ARM calls get: an Entra outage of a few seconds (503
        // temporarily_unavailable) must not fail a build at its next token refresh, and a
        // refused credential (400/401) is never retried, so a wrong secret still fails at once.
        retry: AzureRetryPolicy = .arm,
        timeout: Duration = .seconds(30),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "kiln.azure.credentials")
    ) {
        self.cloud = cloud
        self.transport = transport
        self.clock = clock
        self.retry = retry
        self.timeout = timeout
        self.now = now
        self.logger = logger
    }

    func entra(tenantID: String, authorityHost: URL? = nil) -> EntraTokenClient {
        EntraTokenClient(
            authorityHost: authorityHost ?? cloud.authorityHost, tenantID: tenantID, transport: transport,
            clock: clock, retry: retry, timeout: timeout, now: now, logger: logger
        )
    }
}
