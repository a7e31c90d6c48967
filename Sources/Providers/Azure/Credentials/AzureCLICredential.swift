import Dispatch
import Foundation

/// Runs the Azure CLI. The real implementation is `ProcessAzureCLIRunner`; tests script it.
public protocol AzureCLIRunner: Sendable {
    /// Runs `az` with `arguments`. Throws `AzureCLIRunnerError` when it cannot be started
    /// or does not finish within `timeout` (it is then terminated).
    func run(arguments: [String], timeout: Duration) async throws -> AzureCLIResult
}

/// What one `az` run produced.
public struct AzureCLIResult: Sendable {
    public var exitCode: Int32
    public var stdout: Data
    public var stderr: String

    public init(exitCode: Int32, stdout: Data, stderr: String) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Why `az` could not be run.
public enum AzureCLIRunnerError: Error, Sendable {
    case notInstalled
    case timedOut(Duration)
}

/// The Azure CLI's login: `az account get-access-token --resource <ARM> -o json`.
public struct AzureCLICredential: TokenCredential {
    public let name = "Azure CLI"
    public var tenantID: String?
    private let runner: any AzureCLIRunner
    private let timeout: Duration

    public init(
        tenantID: String? = nil, runner: any AzureCLIRunner = ProcessAzureCLIRunner(), timeout: Duration = .seconds(30)
    ) {
        self.tenantID = tenantID
        self.runner = runner
        self.timeout = timeout
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        var arguments = [
            "account", "get-access-token", "--resource", AzureCloud.resource(forScope: scope), "-o", "json"
        ]
        if let tenantID { arguments += ["--tenant", tenantID] }
        let result: AzureCLIResult
        do {
            result = try await runner.run(arguments: arguments, timeout: timeout)
        } catch AzureCLIRunnerError.notInstalled {
            throw AzureCredentialError(
                kind: .unavailable, credential: name, reason: "az is not installed (not found on PATH)")
        } catch AzureCLIRunnerError.timedOut(let after) {
            throw AzureCredentialError(
                kind: .failed, credential: name,
                reason: "az account get-access-token did not finish within \(Int(after.secondsDouble)) s")
        }
        guard result.exitCode == 0 else {
            let firstLine =
                result.stderr.split(whereSeparator: \.isNewline).first.map(String.init)
                ?? "exit code \(result.exitCode)"
            let notLoggedIn = result.stderr.contains("az login")
            throw AzureCredentialError(
                kind: notLoggedIn ? .unavailable : .failed, credential: name,
                reason: "az account get-access-token failed: \(firstLine)",
                hint: notLoggedIn ? "run az login" : nil
            )
        }
        return try Self.parse(result.stdout, credential: name)
    }

    /// Reads `accessToken` and `expires_on` (epoch, newer CLIs) or `expiresOn` (naive local time).
    static func parse(_ stdout: Data, credential: String) throws -> AzureAccessToken {
        guard let object = (try? JSONSerialization.jsonObject(with: stdout)) as? [String: Any],
            let token = object["accessToken"] as? String, !token.isEmpty
        else {
            throw AzureCredentialError(kind: .failed, credential: credential, reason: "az printed no accessToken")
        }
        if let epoch = object["expires_on"] as? NSNumber {
            return AzureAccessToken(
                token: AzureSecret(token), expiresOn: Date(timeIntervalSince1970: epoch.doubleValue))
        }
        if let epochText = object["expires_on"] as? String, let epoch = Double(epochText) {
            return AzureAccessToken(token: AzureSecret(token), expiresOn: Date(timeIntervalSince1970: epoch))
        }
        if let text = object["expiresOn"] as? String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = .current
            for format in ["yyyy-MM-dd HH:mm:ss.SSSSSS", "yyyy-MM-dd HH:mm:ss"] {
                formatter.dateFormat = format
                if let date = formatter.date(from: text) {
                    return AzureAccessToken(token: AzureSecret(token), expiresOn: date)
                }
            }
        }
        throw AzureCredentialError(
            kind: .failed, credential: credential, reason: "az printed no expiry (expires_on or expiresOn)")
    }
}

/// Runs `az` through Foundation's `Process`, found on PATH via `/usr/bin/env`.
public struct ProcessAzureCLIRunner: AzureCLIRunner {
    /// The executable name or path.
    public var executable: String
    /// What the timeout is measured on.
    public var clock: any Clock<Duration>

    public init(executable: String = "az", clock: any Clock<Duration> = ContinuousClock()) {
        self.executable = executable
        self.clock = clock
    }

    public func run(arguments: [String], timeout: Duration) async throws -> AzureCLIResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = {
            exited.continuation.yield($0.terminationStatus)
            exited.continuation.finish()
        }
        do {
            try process.run()
        } catch {
            throw AzureCLIRunnerError.notInstalled
        }
        // Drain both pipes concurrently so a chatty az cannot block on a full pipe. The
        // blocking reads run on Dispatch threads: blocking the few threads of Swift's
        // cooperative pool would stall every other task of the process.
        async let stdout = Self.readToEnd(out.fileHandleForReading)
        async let stderr = Self.readToEnd(err.fileHandleForReading)
        let pid = process.processIdentifier
        let clock = self.clock
        let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await exited.stream.first { _ in true } ?? -1 }
            group.addTask {
                do {
                    try await clock.sleep(for: timeout)
                } catch {
                    return nil
                }
                // Overran: end az; its exit ends the other child. SIGKILL, because a child
                // inherits the parent's blocked-signal mask and SIGTERM may never arrive;
                // az holds nothing that needs a clean shutdown to get a token.
                kill(pid, SIGKILL)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if first == nil { kill(pid, SIGKILL) }
            return first
        }
        guard let status else {
            _ = await (stdout, stderr)
            throw AzureCLIRunnerError.timedOut(timeout)
        }
        let (o, e) = await (stdout, stderr)
        // /usr/bin/env exits 127 when the program is not on PATH.
        if status == 127 { throw AzureCLIRunnerError.notInstalled }
        return AzureCLIResult(exitCode: status, stdout: o, stderr: String(decoding: e, as: UTF8.self))
    }

    private static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: handle.readDataToEndOfFile()) }
        }
    }
}
