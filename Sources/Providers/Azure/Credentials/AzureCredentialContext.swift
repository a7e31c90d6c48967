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
        retry: AzureRetryPolicy = AzureRetryPolicy(maxAttempts: 4),
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
