import Foundation

/// Every ARM exchange (`/subscriptions/…`), appended to a file as JSON lines when the
/// configuration names one (`exchangeLog`): method, path, api-version, the request body and
/// the status and body of the answer. The tests check each line against Azure's published
/// specifications (`Tests/AzureSpecs`): what Kiln sends, and what the emulator answers.
/// Token, IMDS and control-surface exchanges are not written (no specification covers them,
/// and token bodies hold secrets).
struct ExchangeLog: Sendable {
    let path: String

    func append(_ request: EmulatorRequest, _ response: EmulatorResponse) {
        guard request.path.lowercased().hasPrefix("/subscriptions"), !response.drop else { return }
        var line: JSON = [
            "method": .string(request.method), "path": .string(request.path),
            "status": JSON(response.status),
            "requestBody": Self.body(request.body), "responseBody": Self.body(response.body)
        ]
        if let version = request.apiVersion { line["apiVersion"] = .string(version) }
        var data = line.encoded()
        data.append(UInt8(ascii: "\n"))
        // One write per line with O_APPEND: lines of concurrent requests never interleave.
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The body as JSON; null when empty or not JSON.
    static func body(_ data: Data) -> JSON {
        guard !data.isEmpty, let json = try? JSON.decode(data) else { return .null }
        return json
    }
}
