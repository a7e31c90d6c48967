import Foundation
import Model
import Synchronization
import Testing

@testable import Providers

/// A clock whose sleeps return at once, advance its time, and are recorded: retry and
/// polling waits become assertions instead of real time.
final class RecordingTestClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleeps: [Duration] = []
    }

    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        state.withLock {
            $0.sleeps.append($0.now.duration(to: deadline))
            if deadline > $0.now { $0.now = deadline }
        }
        await Task.yield()
        try Task.checkCancellation()
    }
}

/// Wall time that a test moves by hand (token expiry).
final class ManualWallClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var function: @Sendable () -> Date { { self.now } }
}

/// A credential that hands out a fixed token and counts calls.
final class StaticTokenCredential: TokenCredential {
    let name = "static test token"
    private let calls = Mutex(0)
    let value: String
    init(_ value: String = "test-token") { self.value = value }
    var callCount: Int { calls.withLock { $0 } }
    func token(for scope: String) async throws -> AzureAccessToken {
        calls.withLock { $0 += 1 }
        return AzureAccessToken(token: AzureSecret(value), expiresOn: Date().addingTimeInterval(3600))
    }
}

enum AzureFixtures {
    static let subscription = "11111111-1111-1111-1111-111111111111"
    static let arm = URL(string: "https://arm.test")!

    static func id(_ text: String) -> ResourceID {
        try! ResourceID(parsing: "/subscriptions/\(subscription)/resourceGroups/rg/providers/Microsoft.Compute/\(text)")
    }

    static let disk = id("disks/myDisk")
    static let vm = id("virtualMachines/builder")

    /// A policy with fixed waits (random() = 0 gives half the exponential step).
    static let retry = AzureRetryPolicy(maxAttempts: 8, baseDelay: .seconds(1), maxDelay: .seconds(30), random: { 0 })

    static func client(
        _ transport: ScriptedHTTPTransport, clock: RecordingTestClock = RecordingTestClock(),
        credential: any TokenCredential = StaticTokenCredential(), apiVersions: ArmAPIVersions = .pinned
    ) -> ArmClient {
        ArmClient(
            cloud: .emulator(arm: arm), transport: transport, credential: credential, clock: clock, retry: retry,
            apiVersions: apiVersions)
    }

    static func headers(_ pairs: (String, String)...) -> AzureHTTPHeaders { AzureHTTPHeaders(pairs) }

    static func json(_ response: AzureHTTPResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
    }

    static func bodyJSON(_ request: AzureHTTPRequest) -> [String: Any] {
        (request.body.flatMap { try? JSONSerialization.jsonObject(with: $0) }) as? [String: Any] ?? [:]
    }

    static func form(_ request: AzureHTTPRequest) -> [String: String] {
        let text = String(decoding: request.body ?? Data(), as: UTF8.self)
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let decode = { (s: String) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? s }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }

    static let diskBody = """
        {"id":"/subscriptions/\(subscription)/resourceGroups/rg/providers/Microsoft.Compute/disks/myDisk","name":"myDisk",
         "type":"Microsoft.Compute/disks","location":"westus","someFutureField":{"x":1},
         "properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":200,"provisioningState":"Succeeded","newThing":true}}
        """
}
