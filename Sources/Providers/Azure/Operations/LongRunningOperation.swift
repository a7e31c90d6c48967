import Foundation
import Logging
import Model

/// An ARM long-running operation, started by an `ArmClient` call or rebuilt from a stored
/// `OperationHandle`, and the poller that waits for its end.
///
/// Polling follows shared/reference/azure-rest-api.md §7: `Azure-AsyncOperation` first (the
/// status resource's `status`), else `Location` (202 while running, the result when done),
/// else the resource's own `properties.provisioningState`. Each poll waits Azure's
/// `Retry-After` (clamped by `LongRunningPollPolicy`), separately from the error backoff
/// that repeats a failed poll request.
///
/// `wait(timeout:)` throws `ArmError` (`.operationFailed` when Azure reports failure,
/// `.operationTimedOut` when the caller's timeout passes first: the operation may still be
/// running and the handle can be waited on again) or `CancellationError`.
public struct LongRunningOperation: Sendable {
    /// Store this to re-join the operation later.
    public let handle: OperationHandle
    /// The first response, when this process started the operation.
    let initial: AzureHTTPResponse?
    let client: ArmClient

    /// Re-joins a stored operation.
    init(handle: OperationHandle, client: ArmClient) {
        self.handle = handle
        self.initial = nil
        self.client = client
    }

    /// Classifies the first response of a mutation.
    init(
        start response: AzureHTTPResponse, method: AzureHTTPMethod, resourceURL: URL, operation: String,
        resource: String, client: ArmClient, now: Date
    ) throws {
        let async = response.headers["Azure-AsyncOperation"].flatMap(URL.init(string:))
        let location = response.headers["Location"].flatMap(URL.init(string:))
        var completed = false
        if async == nil && location == nil {
            switch method {
            case .put, .patch:
                let state = ProvisioningState.from(body: response.body)
                completed = response.status == 204 || (state?.isTerminal ?? (response.status == 200))
            case .delete, .post:
                if response.status == 202 {
                    throw ArmError(
                        kind: .invalidResponse, operation: operation, resource: resource, status: 202,
                        message:
                            "Azure accepted the request but gave no Azure-AsyncOperation or Location URL to follow",
                        requestID: response.requestID)
                }
                completed = true
            case .get:
                completed = true
            }
        }
        self.handle = OperationHandle(
            operation: operation, resource: resource, method: method, resourceURL: resourceURL,
            asyncOperationURL: async, locationURL: location, startedAt: now, completedSynchronously: completed)
        self.initial = response
        self.client = client
    }

    /// Waits for the operation to end and returns the final body: the resource for PUT and
    /// PATCH, the action's result for POST (nil when it has none), nil for DELETE.
    ///
    /// `result: false` when the caller needs only the outcome: a status that says
    /// `Succeeded` then ends the wait, without the GET of the resource (or of the `Location`
    /// result) that would only fetch a body nobody reads — as Packer's and every SDK's
    /// "wait for completion" without a result does. `progress` is given each
    /// `percentComplete` the status resource reports (ARM's RPC lets an operation carry one).
    ///
    /// `quietUntil`: the operation's end shows elsewhere first (a data disk's device appears
    /// or goes on the builder VM): until it opens, polls come sparingly (at `Retry-After`,
    /// then each after as long as the operation has run: 1, 2, 4, 8 … s), only to catch a
    /// failure; once it opens, the next poll goes at once.
    public func wait(
        timeout: Duration, result: Bool = true, progress: (@Sendable (Double) -> Void)? = nil,
        quietUntil: OneShot<Void>? = nil
    ) async throws -> Data? {
        if handle.completedSynchronously {
            if let initial {
                if let state = ProvisioningState.from(body: initial.body), state.isFailure {
                    throw failedState(state, response: initial)
                }
                return finalBody(initial)
            }
            return result ? try await finish(pollResponse: nil) : nil
        }
        return try await Waiting.for("Azure to finish \(handle.operation)") { note in
            try await pollUntilDone(
                timeout: timeout, result: result, progress: progress, quietUntil: quietUntil, note: note)
        }
    }

    /// `wait`'s polls, each one's state told to `note`.
    private func pollUntilDone(
        timeout: Duration, result: Bool, progress: (@Sendable (Double) -> Void)?, quietUntil: OneShot<Void>?,
        note: WaitNote
    ) async throws -> Data? {
        let elapsed = stopwatch(client.clock)
        var delay: Duration = initial.map { client.polling.interval(after: $0.headers) } ?? .zero
        if let initial, parseRetryAfter(initial.headers) == nil { delay = client.polling.minimumInterval }
        var location = handle.locationURL
        var asyncURL = handle.asyncOperationURL
        var quiet = quietUntil
        while true {
            if elapsed() + delay > timeout {
                throw timedOut(timeout)
            }
            if delay > .zero {
                if let gate = quiet {
                    if try await Self.sleep(for: delay, unlessOpened: gate, on: client.clock) { quiet = nil }
                } else {
                    try await client.clock.sleep(for: delay, tolerance: nil)
                }
            }
            try Task.checkCancellation()
            let poll: PollResult
            do {
                if let current = asyncURL {
                    poll = try await pollStatus(current, progress: progress)
                } else if let current = location {
                    poll = try await pollLocation(current)
                } else {
                    poll = try await pollResource()
                }
            } catch let error as ArmError
                where error.status == 404 && (asyncURL != nil || location != nil) && handle.method != .post
            {
                // Azure forgets finished operations after a while; a re-joined handle may
                // point at one. The resource itself still tells how it went.
                client.logger.notice(
                    "operation URL is gone; watching the resource instead",
                    metadata: [
                        "operation": "\(handle.operation)", "resource": "\(handle.resource)",
                        "request_id": "\(error.requestID ?? "-")"
                    ])
                asyncURL = nil
                location = nil
                delay = .zero
                continue
            }
            switch poll {
            case .running(let headers, let newLocation, let state):
                note.seen("Azure says \(state)")
                if let newLocation { location = newLocation }
                delay = client.polling.interval(after: headers)
                if quiet != nil { delay = max(delay, elapsed()) }
            case .succeeded(let response):
                if !result, response == nil { return nil }
                return try await finish(pollResponse: response)
            }
        }
    }

    /// Sleeps `delay`, or less when `gate` opens first; true when it did.
    static func sleep(for delay: Duration, unlessOpened gate: OneShot<Void>, on clock: any Clock<Duration>)
        async throws -> Bool
    {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await clock.sleep(for: delay, tolerance: nil)
                return false
            }
            group.addTask {
                try await gate.wait()
                return true
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
    }

    /// Waits and decodes the final body as `T` (nil when there is none).
    public func wait<T: Decodable>(timeout: Duration, as type: T.Type) async throws -> T? {
        guard let body = try await wait(timeout: timeout), !body.isEmpty else { return nil }
        do {
            return try ArmJSON.decoder.decode(T.self, from: body)
        } catch {
            throw ArmError(
                kind: .invalidResponse, operation: handle.operation, resource: handle.resource,
                message: "the result is not the expected JSON (\(ArmJSON.describe(error)))")
        }
    }

    enum PollResult {
        case running(AzureHTTPHeaders, newLocation: URL?, state: String)
        /// Done; the response is the result when the poll itself returned it (Location, resource).
        case succeeded(AzureHTTPResponse?)
    }

    private var pollOperationName: String { "wait for \(handle.operation)" }

    /// One GET of the `Azure-AsyncOperation` status resource.
    private func pollStatus(_ url: URL, progress: (@Sendable (Double) -> Void)?) async throws -> PollResult {
        let response = try await client.send(.get, url, operation: pollOperationName, resource: handle.resource)
        struct Status: Decodable {
            var status: String?
            var error: ArmErrorBody.Detail?
            var percentComplete: Double?
        }
        let decoded = try? ArmJSON.decoder.decode(Status.self, from: response.body)
        if let progress, let percent = decoded?.percentComplete { progress(percent) }
        guard let status = decoded?.status else {
            throw ArmError(
                kind: .invalidResponse, operation: pollOperationName, resource: handle.resource,
                status: response.status,
                message: "the operation status has no status field", requestID: response.requestID)
        }
        switch status.lowercased() {
        case "succeeded", "completed", "deduped":
            return .succeeded(nil)
        case "failed", "canceled", "cancelled", "undefined":
            let detail = decoded?.error
            throw ArmError(
                kind: .operationFailed, operation: handle.operation, resource: handle.resource,
                code: detail?.code ?? "Operation\(status)",
                message: detail?.message ?? "Azure reports the operation as \(status) without an error",
                requestID: response.requestID)
        default:
            return .running(response.headers, newLocation: nil, state: status)
        }
    }

    /// One GET of the `Location` URL.
    private func pollLocation(_ url: URL) async throws -> PollResult {
        let response = try await client.send(.get, url, operation: pollOperationName, resource: handle.resource)
        if response.status == 202 {
            return .running(
                response.headers, newLocation: response.headers["Location"].flatMap(URL.init(string:)),
                state: "Accepted")
        }
        if let state = ProvisioningState.from(body: response.body), handle.method != .post {
            if state.isFailure { throw failedState(state, response: response) }
            if !state.isTerminal {
                return .running(response.headers, newLocation: nil, state: "provisioningState \(state.rawValue)")
            }
        }
        return .succeeded(response)
    }

    /// One GET of the resource itself (no operation URL was given, or a re-joined DELETE).
    private func pollResource() async throws -> PollResult {
        let response = try await client.send(
            .get, handle.resourceURL, operation: pollOperationName, resource: handle.resource, allow404: true)
        if response.status == 404 {
            if handle.method == .delete { return .succeeded(AzureHTTPResponse(status: 204)) }
            throw ArmError(operation: pollOperationName, resource: handle.resource, response: response)
        }
        let state = ProvisioningState.from(body: response.body)
        if let state, state.isFailure { throw failedState(state, response: response) }
        let seen = "provisioningState \(state?.rawValue ?? "not reported")"
        if handle.method == .delete {
            return .running(response.headers, newLocation: nil, state: "still there, \(seen)")
        }
        if state?.isTerminal ?? true { return .succeeded(response) }
        return .running(response.headers, newLocation: nil, state: seen)
    }

    /// The final result after success: PUT/PATCH re-read the resource unless the last poll
    /// returned it; POST takes the Location result; DELETE has none.
    private func finish(pollResponse: AzureHTTPResponse?) async throws -> Data? {
        switch handle.method {
        case .delete:
            return nil
        case .post:
            if let pollResponse { return finalBody(pollResponse) }
            guard let location = handle.locationURL else { return nil }
            let response = try await client.send(
                .get, location, operation: pollOperationName, resource: handle.resource)
            return finalBody(response)
        case .put, .patch, .get:
            if let pollResponse, pollResponse.status != 204, !pollResponse.body.isEmpty { return pollResponse.body }
            let response = try await client.send(
                .get, handle.resourceURL, operation: pollOperationName, resource: handle.resource)
            return finalBody(response)
        }
    }

    private func finalBody(_ response: AzureHTTPResponse) -> Data? {
        if handle.method == .delete || response.status == 204 || response.body.isEmpty { return nil }
        return response.body
    }

    private func failedState(_ state: ProvisioningState, response: AzureHTTPResponse) -> ArmError {
        let parsed = ArmErrorBody.parse(response.body)
        return ArmError(
            kind: .operationFailed, operation: handle.operation, resource: handle.resource,
            code: parsed.code ?? "ProvisioningState\(state.rawValue)",
            message: parsed.message ?? "the resource's provisioningState is \(state.rawValue)",
            requestID: response.requestID)
    }

    private func timedOut(_ timeout: Duration) -> ArmError {
        ArmError(
            kind: .operationTimedOut, operation: handle.operation, resource: handle.resource,
            message: "still running after \(Int(timeout.secondsDouble)) s",
            hint: "it may still be running in Azure; run again to wait for it, or raise the timeout for this step")
    }
}

/// `properties.provisioningState` of a resource body.
struct ProvisioningState: Sendable {
    var rawValue: String

    var isTerminal: Bool { ["succeeded", "failed", "canceled", "cancelled"].contains(rawValue.lowercased()) }
    var isFailure: Bool { ["failed", "canceled", "cancelled"].contains(rawValue.lowercased()) }

    static func from(body: Data) -> ProvisioningState? {
        struct Envelope: Decodable {
            struct Properties: Decodable { var provisioningState: String? }
            var properties: Properties?
        }
        guard !body.isEmpty,
            let state = (try? ArmJSON.decoder.decode(Envelope.self, from: body))?.properties?.provisioningState
        else { return nil }
        return ProvisioningState(rawValue: state)
    }
}

/// A function returning the time elapsed on `clock` since the call.
func stopwatch<C: Clock>(_ clock: C) -> @Sendable () -> Duration where C.Duration == Duration {
    let start = clock.now
    return { start.duration(to: clock.now) }
}

/// How the polls of a VM's data-disk change are paced: `BuilderDisks` binds `quietUntil`
/// while it asks for the change, and opens it once the device has appeared (attach) or gone
/// (detach) on the builder VM — the change is then done, and the next poll says so — so that
/// the operation is not polled every `Retry-After` meanwhile (Packer's azure-chroot does
/// not poll these operations at all).
public enum DataDiskPolling {
    @TaskLocal public static var quietUntil: OneShot<Void>?
}
