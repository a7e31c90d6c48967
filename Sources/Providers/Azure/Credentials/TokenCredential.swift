import Foundation
import Model

/// A secret string (client secret, access token, assertion) that never shows itself:
/// `description`, `debugDescription` and reflection (`dump`, `String(reflecting:)`) all
/// print `<redacted>`. Only `exposedValue` gives the text, for the wire.
public struct AzureSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable
{
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself. Use only to put it on the wire.
    public var exposedValue: String { value }
    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A bearer token and when it expires.
public struct AzureAccessToken: Sendable, CustomStringConvertible {
    public var token: AzureSecret
    public var expiresOn: Date

    public init(token: AzureSecret, expiresOn: Date) {
        self.token = token
        self.expiresOn = expiresOn
    }

    public var description: String { "access token (expires \(expiresOn))" }
}

/// Gets bearer tokens for a scope (`https://management.azure.com/.default`).
///
/// Contract: throws `AzureCredentialError`; `.unavailable` means "this kind of credential
/// is not set up here" (a chain moves on to the next), any other kind is a real failure.
public protocol TokenCredential: Sendable {
    /// A short name for messages: "environment (client secret)", "managed identity", ...
    var name: String { get }
    func token(for scope: String) async throws -> AzureAccessToken
}

/// Why a credential gave no token. Never contains a secret: only names, paths, Entra's
/// error code and description, and what to do next.
public struct AzureCredentialError: Error, Sendable, CustomStringConvertible {
    /// Whether the credential is not set up, was refused, or could not reach its provider.
    public enum Kind: Sendable, Hashable {
        /// This credential is not configured or not usable here (no variables, no IMDS, no az).
        case unavailable
        /// The identity provider refused (wrong secret, unknown client, expired assertion).
        case rejected
        /// The identity provider could not be reached or answered nonsense.
        case failed
    }

    public var kind: Kind
    /// The credential's `name`.
    public var credential: String
    public var reason: String
    /// Entra's `error` (e.g. `invalid_client`) or the HTTP status.
    public var code: String?
    public var hint: String?

    public init(kind: Kind, credential: String, reason: String, code: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.credential = credential
        self.reason = reason
        self.code = code
        self.hint = hint
    }

    public var description: String {
        var s = "\(credential): \(reason)"
        if let code { s += " (\(code))" }
        if let hint { s += "; \(hint)" }
        return s
    }
}

/// Caches another credential's tokens per scope and refreshes each before it expires.
///
/// A token is refreshed once `now >= expiresOn - margin`, where the margin is
/// `refreshMargin` or half the token's lifetime, whichever is shorter (so short-lived
/// tokens, as an emulator may issue, are not refreshed on every call). Concurrent callers for one
/// scope share one refresh. If a refresh fails while the cached token is still valid, the
/// cached one is returned (a transient Entra outage should not fail a build mid-way).
public actor CachingTokenCredential: TokenCredential {
    public nonisolated let name: String
    private let base: any TokenCredential
    private let refreshMargin: Duration
    private let now: @Sendable () -> Date
    private var cache: [String: (token: AzureAccessToken, fetchedAt: Date)] = [:]
    private let refreshes = SingleFlight<String, AzureAccessToken>(policy: .whileRunning)

    public init(
        _ base: any TokenCredential, refreshMargin: Duration = .seconds(300),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.name = base.name
        self.refreshMargin = refreshMargin
        self.now = now
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        let current = now()
        if let cached = cache[scope] {
            let lifetime = cached.token.expiresOn.timeIntervalSince(cached.fetchedAt)
            let margin = min(refreshMargin.secondsDouble, max(lifetime, 0) / 2)
            if current < cached.token.expiresOn.addingTimeInterval(-margin) { return cached.token }
        }
        let base = self.base
        do {
            let fresh = try await refreshes.run(scope) { try await base.token(for: scope) }
            cache[scope] = (fresh, current)
            return fresh
        } catch {
            if let cached = cache[scope], now() < cached.token.expiresOn { return cached.token }
            throw error
        }
    }

    /// Forgets cached tokens, e.g. after ARM answered 401 for one.
    public func invalidate(scope: String) {
        cache[scope] = nil
    }
}
