import Foundation
import Model
import Testing

@testable import Providers

/// A VM data-disk operation whose end the builder VM's device shows first is polled
/// sparingly until the device speaks (`LongRunningOperation.wait(quietUntil:)`).
@Suite struct QuietPollingTests {
    let asyncURL =
        "https://arm.test/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/vm1?api-version=2024-07-01"

    func operation(_ t: ScriptedHTTPTransport, inProgress: Int, clock: RecordingTestClock) async throws
        -> LongRunningOperation
    {
        await t.on(
            .put, "/disks/myDisk",
            json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", asyncURL), ("Retry-After", "1"))))
        let running = ScriptedHTTPTransport.Step.respond(
            AzureHTTPResponse(
                status: 200, headers: AzureFixtures.headers(("Retry-After", "1")),
                body: Data(#"{"status":"InProgress"}"#.utf8)))
        let done = ScriptedHTTPTransport.Step.respond(
            AzureHTTPResponse(status: 200, headers: [:], body: Data(#"{"status":"Succeeded"}"#.utf8)))
        await t.on(.get, "operations/vm1", Array(repeating: running, count: inProgress) + [done])
        let client = AzureFixtures.client(t, clock: clock)
        return try await client.beginCreateDisk(
            AzureFixtures.disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 4)))
    }

    @Test func untilTheGateOpensEachPollWaitsAsLongAsTheOperationHasRun() async throws {
        let t = ScriptedHTTPTransport()
        let clock = RecordingTestClock()
        let op = try await operation(t, inProgress: 4, clock: clock)
        _ = try await op.wait(timeout: .seconds(600), result: false, quietUntil: OneShot<Void>())
        // Retry-After first, then 1, 2, 4, 8 s: five polls over 16 s instead of sixteen.
        #expect(clock.sleeps == [.seconds(1), .seconds(1), .seconds(2), .seconds(4), .seconds(8)])
        #expect(await t.requests(.get, containing: "operations/vm1").count == 5)
    }

    @Test func withTheGateOpenPollsFollowRetryAfter() async throws {
        let t = ScriptedHTTPTransport()
        let clock = RecordingTestClock()
        let op = try await operation(t, inProgress: 3, clock: clock)
        let gate = OneShot<Void>()
        await gate.set(())
        _ = try await op.wait(timeout: .seconds(600), result: false, quietUntil: gate)
        #expect(await t.requests(.get, containing: "operations/vm1").count == 4)
        #expect(clock.sleeps.allSatisfy { $0 <= .seconds(1) })
    }
}
