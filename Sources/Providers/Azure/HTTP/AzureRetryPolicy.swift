import Foundation
import Logging
import Model

/// When and how long to wait before repeating a request that failed for a reason that may
/// pass: throttling (429), a server error (5xx, 408), or a lost connection.
///
/// Waits grow exponentially from `baseDelay`, capped at `maxDelay`, with "equal jitter"
/// (a random point in the upper half of the step) so that many Kiln processes throttled at
/// once do not come back in lockstep. A `Retry-After` from Azure replaces the computed wait.
public struct AzureRetryPolicy: Sendable {
    /// Total tries, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// A `Retry-After` longer than this is not waited out: the error is returned instead,
    /// naming the wait Azure asked for.
    public var maxRetryAfter: Duration
    /// Statuses worth repeating (azure-sdk-for-go's set).
    public var retryableStatuses: Set<Int>
    /// Returns a number in 0...1; injectable so tests get fixed waits.
    public var random: @Sendable () -> Double

    public init(
        maxAttempts: Int = 8,
        baseDelay: Duration = .milliseconds(800),
        maxDelay: Duration = .seconds(60),
        maxRetryAfter: Duration = .seconds(600),
        retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504],
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
        self.retryableStatuses = retryableStatuses
        self.random = random
    }

    /// The default for ARM calls.
    public static let arm = AzureRetryPolicy()
    /// IMDS is local and fast; a few quick tries tell "not on Azure" from a hiccup.
    public static let imds = AzureRetryPolicy(
        maxAttempts: 3, baseDelay: .milliseconds(300), maxDelay: .seconds(2), maxRetryAfter: .seconds(70))

    /// The backoff before try number `attempt + 1` (attempt counts from 1), without Retry-After.
    public func backoff(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = baseDelay * (1 << exponent)
        let capped = raw > maxDelay ? maxDelay : raw
        let fraction = 0.5 + 0.5 * min(max(random(), 0), 1)
        return capped * fraction
    }
}

/// Which failures a request may be repeated after, given what the server may already have done.
public enum AzureRetrySafety: Sendable {
    /// Repeating has the same effect as sending once: GET, PUT (create-or-replace), PATCH
    /// with a full set of values, DELETE, and token requests.
    case idempotent
    /// The request must not run twice: repeat it only when it certainly did not run, i.e.
    /// a 429 (ARM throttles before the resource provider sees the call) or a connection
    /// that never opened. Used for ARM POST actions such as `attachDetachDataDisks`.
    case onlyIfNotProcessed
}

/// Sends `request`, repeating it on throttling, server errors and connection failures as
/// `policy` and `safety` allow. Returns the last response (which may be an error status for
/// the caller to turn into its own error); throws the last `AzureTransportError` when no
/// answer came, or `CancellationError`.
func sendWithRetries(
    _ request: AzureHTTPRequest,
    transport: any AzureHTTPTransport,
    policy: AzureRetryPolicy,
    safety: AzureRetrySafety,
    clock: any Clock<Duration>,
    logger: Logger
) async throws -> AzureHTTPResponse {
    var attempt = 0
    while true {
        attempt += 1
        try Task.checkCancellation()
        let wait: Duration
        let why: String
        do {
            let response = try await transport.send(request)
            guard policy.retryableStatuses.contains(response.status), attempt < policy.maxAttempts else {
                return response
            }
            if safety == .onlyIfNotProcessed && response.status != 429 { return response }
            if let retryAfter = parseRetryAfter(response.headers) {
                if retryAfter > policy.maxRetryAfter { return response }
                wait = retryAfter
            } else {
                wait = policy.backoff(afterAttempt: attempt)
            }
            why = "Azure answered \(response.status)\(response.status == 429 ? " (throttling)" : "")"
            logger.notice(
                "Azure answered \(response.status); retrying",
                metadata: [
                    "request": "\(request)", "attempt": "\(attempt)", "wait_s": "\(wait.secondsDouble)",
                    "request_id": "\(response.requestID ?? "-")"
                ])
        } catch let error as AzureTransportError {
            let mayRepeat =
                switch error.kind {
                case .connectFailed: true
                case .connectionLost, .timedOut: safety == .idempotent
                case .invalidRequest, .tlsRejected: false
                }
            guard mayRepeat, attempt < policy.maxAttempts else { throw error }
            wait = policy.backoff(afterAttempt: attempt)
            why = "no answer from Azure (\(error.kind))"
            logger.notice(
                "no answer from Azure; retrying",
                metadata: [
                    "request": "\(request)", "attempt": "\(attempt)", "wait_s": "\(wait.secondsDouble)",
                    "reason": "\(error)"
                ])
        }
        // A long pause is said at once: it is a wait like any other.
        if wait >= Waiting.firstNoteAfter, let sink = Waiting.sink {
            sink.deliver(
                "\(why) to \(request.method.rawValue) \(request.url.path); trying again in \(wait.secondsDouble) s (attempt \(attempt + 1) of \(policy.maxAttempts))"
            )
        }
        try await clock.sleep(for: wait, tolerance: nil)
    }
}

/// `Retry-After` (seconds or an HTTP date), or the millisecond variants Azure also sends.
/// Negative or unparseable values are ignored.
func parseRetryAfter(_ headers: AzureHTTPHeaders, now: Date = Date()) -> Duration? {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let v = headers[name]?.trimmingCharacters(in: .whitespaces), let ms = Int64(v), ms >= 0 {
            return .milliseconds(ms)
        }
    }
    guard let value = headers["Retry-After"]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
    if let seconds = Int64(value) { return seconds >= 0 ? .seconds(seconds) : nil }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: value) else { return nil }
    let seconds = max(0, date.timeIntervalSince(now))
    return .milliseconds(Int64(seconds * 1000))
}
