import Foundation
import Logging

/// Everything Kiln needs to talk to one Azure cloud (or the emulator), built in one place:
/// the shared HTTP transport, the credential (cached), the ARM client and the IMDS client.
///
/// Create one per process and call `shutdown()` once at the end (the transport owns a
/// connection pool that must be closed).
public struct AzureConnection: Sendable {
    public let cloud: AzureCloud
    public let transport: AsyncHTTPClientTransport
    public let credential: CachingTokenCredential
    public let arm: ArmClient
    public let imds: IMDSClient

    /// Builds the connection. `caFile` is an extra CA to trust (the emulator's `caFile`);
    /// `environment` is read for `AZURE_*` credential variables (pass
    /// `ProcessInfo.processInfo.environment`). Throws `AzureTransportError` when the CA file
    /// cannot be read.
    public init(
        cloud: AzureCloud,
        credential kind: AzureCredentialKind = .default,
        environment: [String: String],
        caFile: String? = nil,
        managedIdentityClientID: String? = nil,
        assertionStyle: ClientAssertionStyle = .ps256,
        clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger = Logger(label: "kiln.azure")
    ) throws {
        let transport = try AsyncHTTPClientTransport(configuration: .init(extraCAFile: caFile))
        let context = AzureCredentialContext(cloud: cloud, transport: transport, clock: clock, logger: logger)
        let credential = AzureCredentialFactory.make(
            kind, environment: environment, context: context,
            managedIdentityClientID: managedIdentityClientID, assertionStyle: assertionStyle)
        self.cloud = cloud
        self.transport = transport
        self.credential = credential
        self.arm = ArmClient(cloud: cloud, transport: transport, credential: credential, clock: clock, logger: logger)
        self.imds = IMDSClient(baseURL: cloud.imds, transport: transport, clock: clock, logger: logger)
    }

    /// Closes the connection pool. Call once, after the last request.
    public func shutdown() async throws {
        try await transport.shutdown()
    }
}
