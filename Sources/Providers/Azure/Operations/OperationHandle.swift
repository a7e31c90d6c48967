import Foundation

/// Everything needed to wait for an ARM long-running operation again after the process
/// that started it is gone: the journal stores it between "started" and "finished".
///
/// It holds URLs and names only, no token or secret. Re-joining polls these URLs; it never
/// re-sends the original request.
public struct OperationHandle: Sendable, Hashable, Codable {
    /// What the operation does, for messages: "create disk".
    public var operation: String
    /// The resource id the operation acts on.
    public var resource: String
    public var method: AzureHTTPMethod
    /// The resource's own URL (with api-version): the final GET for PUT/PATCH, and the
    /// thing to poll when Azure gave no operation URL.
    public var resourceURL: URL
    /// `Azure-AsyncOperation`: the operation-status resource.
    public var asyncOperationURL: URL?
    /// `Location`: the operation-result URL.
    public var locationURL: URL?
    public var startedAt: Date
    /// True when the operation had already finished in its first response.
    public var completedSynchronously: Bool
    /// For a change of a VM's data disks: the LUN each change got, in the order of the
    /// changes (for a detach, where the disk was; nil for a disk that needed nothing), known
    /// when Azure accepted the request.
    public var dataDiskLUNs: [Int?]?

    public init(
        operation: String, resource: String, method: AzureHTTPMethod, resourceURL: URL,
        asyncOperationURL: URL? = nil, locationURL: URL? = nil, startedAt: Date, completedSynchronously: Bool = false
    ) {
        self.operation = operation
        self.resource = resource
        self.method = method
        self.resourceURL = resourceURL
        self.asyncOperationURL = asyncOperationURL
        self.locationURL = locationURL
        self.startedAt = startedAt
        self.completedSynchronously = completedSynchronously
    }
}

/// How often to poll a long-running operation. Separate from the error backoff of
/// `AzureRetryPolicy`: polling a running operation is not an error.
public struct LongRunningPollPolicy: Sendable, Hashable {
    /// The interval when Azure sends no `Retry-After`.
    public var defaultInterval: Duration
    /// `Retry-After` is raised to at least this (ARM sends `Retry-After: 0`).
    public var minimumInterval: Duration
    /// `Retry-After` is lowered to at most this.
    public var maximumInterval: Duration

    public init(
        defaultInterval: Duration = .seconds(10), minimumInterval: Duration = .seconds(1),
        maximumInterval: Duration = .seconds(60)
    ) {
        self.defaultInterval = defaultInterval
        self.minimumInterval = minimumInterval
        self.maximumInterval = maximumInterval
    }

    /// The wait before the next poll after a response with `headers`.
    func interval(after headers: AzureHTTPHeaders?) -> Duration {
        guard let headers, let retryAfter = parseRetryAfter(headers) else { return defaultInterval }
        return min(max(retryAfter, minimumInterval), maximumInterval)
    }
}
