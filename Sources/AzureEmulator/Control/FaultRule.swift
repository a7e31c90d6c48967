import Foundation
import Model

/// A scripted fault: requests matching `method` and `path` are counted, and the ones numbered
/// `skip + 1` … `skip + times` get the fault instead of their normal answer.
///
/// Kinds:
/// * `throttle` — 429 with `Retry-After: retryAfter` (default 1) and code `TooManyRequests`;
/// * `error` — `status` (default 500) with `code` (default `InternalServerError`);
/// * `drop` — the connection is closed with no answer;
/// * `failOperation` — the request is accepted but its long-running operation ends `Failed`
///   with `code` (default `InternalExecutionError`) and `message`;
/// * `tokenOutage` — token endpoints (Entra v1/v2 and IMDS identity) answer 503
///   `temporarily_unavailable`; `path` defaults to all of them;
/// * `noDevice` — not a request fault: a disk attached to the builder VM whose id matches
///   `path` (any when absent) is attached in ARM and on a loop device, but its
///   `disk/azure/scsi1/lun<N>` links do not appear (a device that never shows up); once no
///   `noDevice` rule is left, the links appear, as after a late udev event.
public struct FaultRule: Sendable, Codable, Equatable {
    public var kind: String
    /// HTTP method, nil for any.
    public var method: String?
    /// A glob over the request path (no query), case-insensitive; `*` matches any run of
    /// characters, slashes included. Nil matches every path.
    public var path: String?
    /// A glob over the request body as text, case-insensitive (e.g.
    /// `*dataDisksToDetach*-lun1*`: the VM update that detaches one disk, whichever batch it
    /// is in). Nil matches any body.
    public var body: String?
    public var skip: Int = 0
    /// How many matching requests get the fault; 0 means all of them.
    public var times: Int = 1
    public var status: Int?
    public var retryAfter: Int?
    public var code: String?
    public var message: String?

    public init(
        kind: String, method: String? = nil, path: String? = nil, body: String? = nil, skip: Int = 0, times: Int = 1,
        status: Int? = nil, retryAfter: Int? = nil, code: String? = nil, message: String? = nil
    ) {
        self.kind = kind
        self.method = method
        self.path = path
        self.body = body
        self.skip = skip
        self.times = times
        self.status = status
        self.retryAfter = retryAfter
        self.code = code
        self.message = message
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(String.self, forKey: .kind)
        guard Self.kinds.contains(kind) else {
            throw ConfigurationError(
                message: "unknown fault kind '\(kind)'; known kinds: \(Self.kinds.joined(separator: ", "))")
        }
        method = try c.decodeIfPresent(String.self, forKey: .method)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        body = try c.decodeIfPresent(String.self, forKey: .body)
        skip = try c.decodeIfPresent(Int.self, forKey: .skip) ?? 0
        times = try c.decodeIfPresent(Int.self, forKey: .times) ?? 1
        status = try c.decodeIfPresent(Int.self, forKey: .status)
        retryAfter = try c.decodeIfPresent(Int.self, forKey: .retryAfter)
        code = try c.decodeIfPresent(String.self, forKey: .code)
        message = try c.decodeIfPresent(String.self, forKey: .message)
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "a fault rule")
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, method, path, body, skip, times, status, retryAfter, code, message
    }

    public static let kinds = ["throttle", "error", "drop", "failOperation", "tokenOutage", "noDevice"]

    func matches(method m: String, path p: String, body b: Data = Data()) -> Bool {
        // Matched at attach time against the disk's id (`Emulator.hidesDevice`), never against requests.
        if kind == "noDevice" { return false }
        if let method, method != "*", method.uppercased() != m.uppercased() { return false }
        if let body, !Glob.matches(pattern: body.lowercased(), text: String(decoding: b, as: UTF8.self).lowercased()) {
            return false
        }
        if let path { return Glob.matches(pattern: path.lowercased(), text: p.lowercased()) }
        if kind == "tokenOutage" { return Self.isTokenPath(p.lowercased()) }
        return true
    }

    static func isTokenPath(_ lower: String) -> Bool {
        lower.hasSuffix("/oauth2/token") || lower.hasSuffix("/oauth2/v2.0/token")
            || lower.hasPrefix("/metadata/identity/")
    }
}
