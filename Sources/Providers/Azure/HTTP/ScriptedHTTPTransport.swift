import Foundation

/// The in-memory `AzureHTTPTransport`: answers from a script and records every request.
///
/// A rule matches a method (or any) and a substring of the URL (path and query; empty
/// matches every URL); each
/// matching request takes the rule's next step, and the last step repeats. Rules are tried
/// in the order they were added. A request that no rule matches gets a 404 with the code
/// `NoScriptedResponse`, so a test sees what it forgot to script.
public actor ScriptedHTTPTransport: AzureHTTPTransport {
    /// What one request gets.
    public enum Step: Sendable {
        case respond(AzureHTTPResponse)
        case fail(AzureTransportError.Kind)
    }

    private struct Rule {
        var method: AzureHTTPMethod?
        var urlContains: String
        var steps: [Step]
    }

    private var rules: [Rule] = []
    /// Every request received, in order.
    public private(set) var requests: [AzureHTTPRequest] = []

    public init() {}

    /// Adds a rule; see the type's documentation.
    public func on(_ method: AzureHTTPMethod?, _ urlContains: String, _ steps: [Step]) {
        precondition(!steps.isEmpty, "a rule needs at least one step")
        rules.append(Rule(method: method, urlContains: urlContains, steps: steps))
    }

    /// Adds a rule answering with JSON bodies.
    public func on(
        _ method: AzureHTTPMethod?, _ urlContains: String, json responses: (Int, String, AzureHTTPHeaders)...
    ) {
        on(
            method, urlContains,
            responses.map { .respond(AzureHTTPResponse(status: $0.0, headers: $0.2, body: Data($0.1.utf8))) })
    }

    /// Requests whose URL contains `fragment` (and have `method`, when given).
    public func requests(_ method: AzureHTTPMethod? = nil, containing fragment: String) -> [AzureHTTPRequest] {
        requests.filter { (method == nil || $0.method == method) && $0.url.absoluteString.contains(fragment) }
    }

    public func send(_ request: AzureHTTPRequest) async throws -> AzureHTTPResponse {
        try Task.checkCancellation()
        requests.append(request)
        let url = request.url.absoluteString
        guard
            let index = rules.firstIndex(where: {
                ($0.method == nil || $0.method == request.method)
                    && ($0.urlContains.isEmpty || url.contains($0.urlContains))
            })
        else {
            let body =
                #"{"error":{"code":"NoScriptedResponse","message":"no scripted response for \#(request.method.rawValue) \#(url)"}}"#
            return AzureHTTPResponse(
                status: 404, headers: ["x-ms-request-id": "scripted-missing"], body: Data(body.utf8))
        }
        let step = rules[index].steps.count > 1 ? rules[index].steps.removeFirst() : rules[index].steps[0]
        switch step {
        case .respond(let response): return response
        case .fail(let kind):
            throw AzureTransportError(kind: kind, endpoint: request.url.endpointForDisplay, reason: "scripted failure")
        }
    }
}
