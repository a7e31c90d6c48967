import Foundation
import Logging
import Model

/// The builder VM's own description from the Instance Metadata Service
/// (`/metadata/instance?api-version=2021-02-01`). IMDS sends every primitive as a string.
public struct IMDSInstance: Decodable, Sendable, Hashable {
    public var compute: Compute

    /// The `Compute` part of the wire shape; fields Azure may omit are optional.
    public struct Compute: Decodable, Sendable, Hashable {
        public var name: String?
        public var location: String?
        public var resourceGroupName: String?
        public var subscriptionId: String?
        public var resourceId: String?
        public var vmId: String?
        public var vmSize: String?
        public var zone: String?
        public var azEnvironment: String?
        public var osType: String?
        public var storageProfile: StorageProfile?
    }

    /// The `StorageProfile` part of the wire shape; fields Azure may omit are optional.
    public struct StorageProfile: Decodable, Sendable, Hashable {
        public var dataDisks: [DataDisk]?
    }

    /// The `DataDisk` part of the wire shape; fields Azure may omit are optional.
    public struct DataDisk: Decodable, Sendable, Hashable {
        /// A string on the wire ("0").
        public var lun: String?
        public var name: String?
        public var managedDisk: ManagedDisk?
    }

    /// The `ManagedDisk` part of the wire shape; fields Azure may omit are optional.
    public struct ManagedDisk: Decodable, Sendable, Hashable {
        public var id: String?
    }

    /// The VM's ARM id: `resourceId` when IMDS gives it, else built from its parts.
    public var virtualMachineID: ResourceID? {
        if let text = compute.resourceId, !text.isEmpty, let id = try? ResourceID(parsing: text) { return id }
        guard let sub = compute.subscriptionId, let rg = compute.resourceGroupName, let name = compute.name,
            !sub.isEmpty, !rg.isEmpty, !name.isEmpty
        else { return nil }
        return ResourceID(
            subscription: sub, resourceGroup: rg, provider: "Microsoft.Compute", segments: [("virtualMachines", name)])
    }
}

/// Why IMDS gave no description of the VM.
public struct IMDSError: Error, Sendable, CustomStringConvertible {
    /// What went wrong: no IMDS at all, an error answer, or an unreadable one.
    public enum Kind: Sendable, Hashable {
        /// Nothing answers at the IMDS address: Kiln is not on an Azure VM.
        case notOnAzure
        /// IMDS answered with an error status.
        case http
        /// The answer was not the expected JSON.
        case invalidResponse
    }

    public var kind: Kind
    public var endpoint: String
    public var status: Int?
    public var reason: String

    public var description: String {
        switch kind {
        case .notOnAzure:
            "no instance metadata service answered at \(endpoint) (\(reason)): this needs an Azure VM, or --emulator"
        case .http:
            "the instance metadata service at \(endpoint) answered HTTP \(status ?? 0): \(reason)"
        case .invalidResponse:
            "the instance metadata service at \(endpoint) sent an answer Kiln cannot read: \(reason)"
        }
    }
}

/// Reads the Instance Metadata Service: a short timeout per try and a few quick retries
/// (IMDS is local; when nothing answers, Kiln is not on Azure). Never goes through a proxy:
/// the transport it is given connects directly.
public struct IMDSClient: Sendable {
    public var baseURL: URL
    public var transport: any AzureHTTPTransport
    public var clock: any Clock<Duration>
    public var retry: AzureRetryPolicy
    public var requestTimeout: Duration
    public var logger: Logger

    public init(
        baseURL: URL = AzureCloud.defaultIMDS, transport: any AzureHTTPTransport,
        clock: any Clock<Duration> = ContinuousClock(),
        retry: AzureRetryPolicy = .imds, requestTimeout: Duration = .seconds(2),
        logger: Logger = Logger(label: "kiln.azure.imds")
    ) {
        self.baseURL = baseURL
        self.transport = transport
        self.clock = clock
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// The VM's instance metadata. Throws `IMDSError`, or `CancellationError`.
    public func instance() async throws -> IMDSInstance {
        let url = baseURL.appendingArmPath("/metadata/instance", query: [("api-version", "2021-02-01")])
        let request = AzureHTTPRequest(method: .get, url: url, headers: ["Metadata": "true"], timeout: requestTimeout)
        var policy = retry
        // 410: IMDS is being updated (up to 70 s); 404 while it starts.
        policy.retryableStatuses.formUnion([404, 410])
        let response: AzureHTTPResponse
        do {
            response = try await sendWithRetries(
                request, transport: transport, policy: policy, safety: .idempotent, clock: clock, logger: logger)
        } catch let error as AzureTransportError {
            throw IMDSError(kind: .notOnAzure, endpoint: baseURL.endpointForDisplay, reason: "\(error.kind)")
        }
        guard response.status == 200 else {
            struct Body: Decodable { var error: String? }
            let reason = (try? JSONDecoder().decode(Body.self, from: response.body))?.error ?? "no error text"
            throw IMDSError(kind: .http, endpoint: baseURL.endpointForDisplay, status: response.status, reason: reason)
        }
        do {
            return try JSONDecoder().decode(IMDSInstance.self, from: response.body)
        } catch {
            throw IMDSError(
                kind: .invalidResponse, endpoint: baseURL.endpointForDisplay, reason: ArmJSON.describe(error))
        }
    }
}
