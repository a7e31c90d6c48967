import Foundation

@testable import AzureEmulator

/// Blob service helpers: a token for the storage audience and requests under `endpoints.blob`.
extension Harness {
    static let storageVersion = "2025-01-05"

    /// A client-secret token for `scope` (the storage audience unless told).
    func storageToken(scope: String = "https://storage.azure.com/.default") async throws -> String {
        try await clientSecretToken(scope: scope)
    }

    /// A Blob service request on `account/path` with the given token and `x-ms-version`.
    func blob(
        _ method: String, _ path: String, token: String?, body: Data? = nil, headers: [String: String] = [:],
        version: String? = Harness.storageVersion, account: String = "kilnstate"
    ) async throws -> HTTPResult {
        var h = headers
        if let token { h["Authorization"] = "Bearer \(token)" }
        if let version { h["x-ms-version"] = version }
        return try await send(method, "\(endpoints.blob ?? "")/\(account)/\(path)", raw: body, headers: h, auth: false)
    }

    /// Puts a block blob and returns its quoted ETag.
    @discardableResult
    func putBlob(_ path: String, _ text: String, token: String, headers: [String: String] = [:]) async throws
        -> HTTPResult
    {
        try await blob(
            "PUT", path, token: token, body: Data(text.utf8),
            headers: ["x-ms-blob-type": "BlockBlob"].merging(headers) { $1 })
    }

    /// Moves the Blob service's clock `seconds` ahead of the wall clock.
    func advanceStorageClock(to seconds: Double) async throws {
        let r = try await send("PUT", "/_emulator/clock", json: ["offsetSeconds": .number(seconds)], auth: false)
        guard r.status == 200 else { throw HarnessError(message: "clock: \(r.status) \(r.text)") }
    }
}

extension HTTPResult {
    /// `x-ms-error-code` of a Blob service answer (also on bodiless HEAD answers).
    var storageErrorCode: String? { header("x-ms-error-code") }
}
