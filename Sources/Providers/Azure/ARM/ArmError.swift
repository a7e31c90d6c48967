import Foundation

/// A failed ARM call or operation, carrying everything a user (or Azure support) needs:
/// the operation, the resource, the HTTP status, Azure's error code and message, and the
/// `x-ms-request-id`.
///
/// `description` is the one line the user reads. It never contains request headers or
/// bodies, so no token or secret can reach it.
public struct ArmError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; callers branch on this and on `code`, never on `message`.
    public enum Kind: Sendable, Hashable {
        /// ARM answered with an HTTP error status.
        case http
        /// A long-running operation ended `Failed` or `Canceled`.
        case operationFailed
        /// A long-running operation did not finish within the caller's timeout. It may
        /// still be running in Azure: its handle can be waited on again.
        case operationTimedOut
        /// No answer came (connection refused, broken, timed out) even after retries.
        case transport
        /// The answer could not be understood (not the JSON shape Kiln expects).
        case invalidResponse
        /// No bearer token could be had for the request.
        case authentication
        /// The request cannot be made as asked (e.g. no free LUN within the VM's limit).
        case invalidRequest
    }

    public var kind: Kind
    /// What Kiln was doing, in words: "create disk", "attach data disk", "poll operation".
    public var operation: String
    /// The resource id (or URL path) the call was about.
    public var resource: String
    public var status: Int?
    /// Azure's error code (`error.code`, or `x-ms-error-code`), e.g. `OperationNotAllowed`.
    public var code: String?
    /// Azure's message, verbatim.
    public var message: String?
    public var requestID: String?
    /// For a throttled or timed-out call: what to do next.
    public var hint: String?

    public init(
        kind: Kind, operation: String, resource: String, status: Int? = nil, code: String? = nil,
        message: String? = nil, requestID: String? = nil, hint: String? = nil
    ) {
        self.kind = kind
        self.operation = operation
        self.resource = resource
        self.status = status
        self.code = code
        self.message = message
        self.requestID = requestID
        self.hint = hint
    }

    /// ARM said the resource (or its group) does not exist.
    public var isNotFound: Bool { status == 404 }
    /// Azure refused because of the resource's current state (attached, being detached, busy).
    public var isConflict: Bool { status == 409 }
    /// Throttling that outlasted the retries.
    public var isThrottled: Bool { status == 429 }

    public var description: String {
        var s = "\(operation) \(resource) failed"
        switch kind {
        case .operationFailed: s += ": the Azure operation did not succeed"
        case .operationTimedOut: s += ": the Azure operation did not finish in time"
        default: break
        }
        if let status { s += ": HTTP \(status)" }
        if let code { s += (status == nil ? ": " : " ") + code }
        if let message, !message.isEmpty { s += ": \(message)" }
        if let requestID { s += " (x-ms-request-id \(requestID))" }
        if let hint = hint ?? Self.hint(forCode: code, status: status) { s += "; \(hint)" }
        return s
    }

    /// What next, for the errors users meet most.
    static func hint(forCode code: String?, status: Int?) -> String? {
        switch code {
        case "AuthorizationFailed":
            return
                "grant the identity Kiln runs as a role that allows this action on the resource group (e.g. Contributor)"
        case "InvalidAuthenticationToken", "ExpiredAuthenticationToken":
            return "check the credential and the cloud (the token must be for this cloud's ARM audience)"
        case "NoRegisteredProviderFound":
            return "this region does not accept Kiln's pinned api-version; report it, or pin an older one"
        case "ResourceGroupNotFound": return "create the resource group first, or fix its name in the manifest"
        case "SubscriptionNotFound": return "check the subscription id and that the identity can see it"
        default: break
        }
        if status == 429 { return "Azure is throttling this subscription; wait and run again" }
        return nil
    }
}

/// Azure's error body: `{"error":{"code","message",...}}`, or (Compute throttling) the same
/// members without the wrapper.
struct ArmErrorBody: Decodable {
    struct Detail: Decodable {
        var code: String?
        var message: String?
        var target: String?
        var details: [Detail]?
    }
    var error: Detail?
    var code: String?
    var message: String?

    /// Code and message from `body`, if it is an Azure error body.
    static func parse(_ body: Data) -> (code: String?, message: String?) {
        guard !body.isEmpty, let decoded = try? JSONDecoder().decode(ArmErrorBody.self, from: body) else {
            return (nil, nil)
        }
        let detail = decoded.error ?? Detail(code: decoded.code, message: decoded.message, target: nil, details: nil)
        var message = detail.message
        // Compute puts the useful part of some errors in the first inner detail.
        if let inner = detail.details?.first, let innerMessage = inner.message, message?.isEmpty ?? true {
            message = innerMessage
        }
        return (detail.code, message)
    }
}

extension ArmError {
    /// The error for an HTTP error response.
    init(operation: String, resource: String, response: AzureHTTPResponse) {
        let parsed = ArmErrorBody.parse(response.body)
        var hint: String?
        if response.status == 429, let wait = parseRetryAfter(response.headers) {
            hint =
                "Azure is throttling this subscription and asks to wait \(Int(wait.secondsDouble)) s; run again later"
        }
        self.init(
            kind: .http, operation: operation, resource: resource, status: response.status,
            code: response.headers["x-ms-error-code"] ?? parsed.code, message: parsed.message,
            requestID: response.requestID, hint: hint
        )
    }

    /// The error for a request that got no answer.
    init(operation: String, resource: String, transport: AzureTransportError) {
        self.init(kind: .transport, operation: operation, resource: resource, message: transport.description)
    }
}
