import Foundation

/// A request as the emulator's logic sees it, independent of the HTTP server library.
struct EmulatorRequest: Sendable {
    var method: String
    /// Percent-decoded path.
    var path: String
    /// Query parameters, names lower-cased (ARM treats them case-insensitively), values decoded.
    var query: [String: String]
    /// Header names lower-cased.
    var headers: [String: String]
    var body: Data
    /// `http` or `https`: what the client used to reach us.
    var scheme: String
    /// `host[:port]` the client used (the Host header).
    var host: String
    /// True when the request came through the proxy port.
    var viaProxy: Bool = false

    /// Path segments, original spelling.
    var segments: [String] { path.split(separator: "/", omittingEmptySubsequences: true).map(String.init) }
    var apiVersion: String? { query["api-version"] }
    /// `scheme://host` the client used; every absolute URL we hand out starts with it.
    var baseURL: String { "\(scheme)://\(host)" }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    static func parseQuery(_ raw: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeFormComponent(String(parts[0])).lowercased()
            let value = parts.count > 1 ? decodeFormComponent(String(parts[1])) : ""
            if out[name] == nil { out[name] = value }
        }
        return out
    }

    /// Decodes `application/x-www-form-urlencoded` components (`+` is a space).
    static func decodeFormComponent(_ s: String) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The body as a form (token endpoints).
    var form: [String: String] {
        var out: [String: String] = [:]
        let text = String(decoding: body, as: UTF8.self)
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[Self.decodeFormComponent(String(parts[0]))] =
                parts.count > 1 ? Self.decodeFormComponent(String(parts[1])) : ""
        }
        return out
    }
}

/// An answer, or an instruction to drop the connection.
struct EmulatorResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: Data = Data()
    var drop = false

    static func json(_ status: Int, _ body: JSON, headers: [(String, String)] = []) -> EmulatorResponse {
        EmulatorResponse(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers,
            body: body.encoded())
    }

    static func empty(_ status: Int, headers: [(String, String)] = []) -> EmulatorResponse {
        EmulatorResponse(status: status, headers: headers)
    }

    static func text(_ status: Int, _ text: String) -> EmulatorResponse {
        EmulatorResponse(
            status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Data(text.utf8))
    }

    static let dropped = EmulatorResponse(status: 0, drop: true)
}

/// An ARM error answer: `{"error":{"code","message","target"?}}` with a status.
struct ARMError: Error, Sendable {
    var status: Int
    var code: String
    var message: String
    var target: String?
    var headers: [(String, String)] = []

    init(_ status: Int, _ code: String, _ message: String, target: String? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = headers
    }

    var body: JSON {
        var e: JSON = ["code": .string(code), "message": .string(message)]
        if let target { e["target"] = .string(target) }
        return ["error": e]
    }

    var response: EmulatorResponse {
        .json(status, body, headers: headers + [("x-ms-error-code", code)])
    }

    static func notFound(type: String, name: String, resourceGroup: String) -> ARMError {
        ARMError(
            404, "ResourceNotFound",
            "The Resource '\(type)/\(name)' under resource group '\(resourceGroup)' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        )
    }

    static func invalidContent(_ detail: String) -> ARMError {
        ARMError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: '\(detail)'.")
    }

    static func missing(_ path: String) -> ARMError {
        ARMError(400, "InvalidParameter", "Required parameter '\(path)' is missing (null).", target: path)
    }
}

/// Typed reads of a request body that fail the way ARM does on wrong types.
struct BodyReader {
    var json: JSON

    static func parse(_ data: Data) throws(ARMError) -> BodyReader {
        if data.isEmpty { throw ARMError.invalidContent("The request body is empty; a JSON object is required.") }
        let j: JSON
        do { j = try JSON.decode(data) } catch {
            throw ARMError.invalidContent(
                "Unexpected character or malformed JSON: \(String(describing: error).prefix(200))")
        }
        guard j.objectValue != nil else { throw ARMError.invalidContent("The request body must be a JSON object.") }
        return BodyReader(json: CanonicalEnums.canonical(j))
    }

    func value(_ path: [String]) -> JSON? {
        var cur: JSON? = json
        for k in path { cur = cur?[k] }
        if let cur, cur.isNull { return nil }
        return cur
    }

    func string(_ path: String...) throws(ARMError) -> String? {
        guard let v = value(path) else { return nil }
        guard let s = v.stringValue else { throw typeError(path, "String") }
        return s
    }

    func int(_ path: String...) throws(ARMError) -> Int? {
        guard let v = value(path) else { return nil }
        if let i = v.intValue, i >= Int(Int32.min), i <= Int(Int32.max) { return i }
        // Newtonsoft accepts numeric strings; so does ARM.
        if let s = v.stringValue, let i = Int(s) { return i }
        throw typeError(path, "System.Int32")
    }

    func bool(_ path: String...) throws(ARMError) -> Bool? {
        guard let v = value(path) else { return nil }
        guard let b = v.boolValue else { throw typeError(path, "System.Boolean") }
        return b
    }

    func object(_ path: String...) throws(ARMError) -> JSON? {
        guard let v = value(path) else { return nil }
        guard v.objectValue != nil else { throw typeError(path, "Object") }
        return v
    }

    func array(_ path: String...) throws(ARMError) -> [JSON]? {
        guard let v = value(path) else { return nil }
        guard let a = v.arrayValue else { throw typeError(path, "Array") }
        return a
    }

    func stringMap(_ path: String...) throws(ARMError) -> JSON? {
        guard let v = value(path) else { return nil }
        guard let o = v.objectValue, o.values.allSatisfy({ $0.stringValue != nil || $0.isNull }) else {
            throw typeError(path, "IDictionary<String, String>")
        }
        return v
    }

    private func typeError(_ path: [String], _ type: String) -> ARMError {
        ARMError.invalidContent("Error converting value to type '\(type)'. Path '\(path.joined(separator: "."))'")
    }
}
